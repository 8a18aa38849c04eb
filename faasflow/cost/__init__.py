"""``faasflow cost``: what a request of a Flow costs on AWS, per endpoint, from its compiled
state machines, a dated price table and durations and bytes measured on a sample (or
assumed, and said so); and what the alternatives a user weighs would cost: the Flow as one
Lambda function, and batch indexing through the Standard machine.

``prices`` (the table), ``paths`` (what one run does, read from the ASL), ``model`` (the
arithmetic), ``measure`` (``--sample``), ``estimate`` (the steps together), ``report``
(text and JSON). Nothing here imports the compiler: the command hands in what it built.
"""
