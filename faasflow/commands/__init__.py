"""The ``faasflow`` subcommands, one module each; each module's ``register`` adds its parser.

Modules import only argparse at import time, so ``faasflow --help`` is instant; the work
(and fastapi, uvicorn, httpx) is imported when a command runs.
"""
