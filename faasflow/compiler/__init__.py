"""Build time: a Plan compiled to files (the SAM template, the state machines, the images'
Dockerfiles). Pure: it writes nothing; ``faasflow.deploy`` acts on what it returns."""
