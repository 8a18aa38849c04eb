"""Run time: what runs inside a Lambda function or a SageMaker container (the executor
handler, its hops, the gateway backend, batch ingest). With the core, the only faasflow code
the layer ships; it never imports the compiler, the deploy tools, the CLI or testing."""
