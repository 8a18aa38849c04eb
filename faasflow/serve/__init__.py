"""The HTTP gateway: one FastAPI app over a Backend, served by uvicorn here and by Mangum
in Lambda. Needs the ``serve`` extra; ``import faasflow`` never imports it."""

from faasflow.extras import needs

# Nothing checked up front (``()``): a Lambda function imports this package without uvicorn.
with needs("faasflow.serve", "serve", ()):
    from faasflow.serve.app import DEFAULT_MAX_BODY_BYTES, create_app
    from faasflow.serve.backend import Backend, ExecutorObserver
    from faasflow.serve.server import BackgroundServer, run_server, serve_app_in_background, start_background_server

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "BackgroundServer",
    "Backend",
    "ExecutorObserver",
    "create_app",
    "run_server",
    "serve_app_in_background",
    "start_background_server",
]
