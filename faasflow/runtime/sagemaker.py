"""The GPU image's entry point: one executor shard served with the SageMaker hosting
contract, ``GET /ping`` and ``POST /invocations`` on port 8080.

``/invocations`` takes the event a Lambda stage gets and answers the same envelope: it
runs the same ``ShardRuntime`` as the Lambda handler, built from the same environment
(``FAASFLOW_EXECUTOR``, ``FAASFLOW_USES``, ...), so a stage behaves the same on a GPU
endpoint as in a function. The executor is made before the port opens: ``/ping`` answers
only once the model is loaded on its device, and a GPU that was required but cannot be
used stops the container with the reason, so the endpoint never goes in service on the CPU.

The standard library's threading server is enough here: the model does the work, and
invocations run one at a time (executors need not be thread-safe).

    python -m faasflow.runtime.sagemaker [serve] [--host 0.0.0.0] [--port 8080]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast

from faasflow import codec
from faasflow.errors import BadInputError, FaasflowError

if TYPE_CHECKING:
    from faasflow.runtime.handler import ShardRuntime

DEFAULT_PORT = 8080
PORT_ENV = "SAGEMAKER_BIND_TO_PORT"  # set by SageMaker when several containers share a host
JSON = "application/json"

logger = logging.getLogger("faasflow.sagemaker")


def ping_body(runtime: ShardRuntime) -> dict[str, Any]:
    """What ``/ping`` says: the executor, its shard and what it reports (model, provider)."""
    return {"status": "ok", "executor": runtime.spec.name, "shard": runtime.shard,
            "runtime": runtime.instance.status()}


class InvocationServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], runtime: ShardRuntime):
        self.runtime = runtime
        self.lock = threading.Lock()
        super().__init__(address, InvocationHandler)

    @property
    def url(self) -> str:
        host, port = cast(tuple[str, int], self.server_address[:2])  # bound from a (str, int) address
        return f"http://{host}:{port}"


class InvocationHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SageMaker's front end uses it
    server: InvocationServer

    def _send(self, status: int, body: Any) -> None:
        data = codec.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self) -> None:
        self._send(404, {"error": {"type": "NotFound", "message": f"{self.command} {self.path}: the SageMaker "
                                   "contract has GET /ping and POST /invocations only"}})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?", 1)[0] != "/ping":
            return self._not_found()
        self._send(200, ping_body(self.server.runtime))

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?", 1)[0] != "/invocations":
            return self._not_found()
        try:
            event = codec.loads(body)
            if not isinstance(event, dict):
                raise ValueError(f"the event must be a JSON object, got {type(event).__name__}")
        except (BadInputError, ValueError) as exc:
            return self._send(400, {"error": {"type": "BadRequest", "message": str(exc)}})
        try:
            with self.server.lock:
                envelope = self.server.runtime.handle(event)
        except Exception as exc:  # noqa: BLE001 - a 500 the state machine catches, named by type
            logger.exception("invocation failed")
            return self._send(500, {"error": {"type": type(exc).__name__, "message": str(exc)}})
        self._send(200, envelope)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        logger.debug("%s " + format, self.address_string(), *args)


def make_server(runtime: ShardRuntime, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> InvocationServer:
    return InvocationServer((host, port), runtime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve one faasflow executor shard for SageMaker hosting.")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"],
                        help="SageMaker starts the container with 'serve'")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=int(os.environ.get(PORT_ENV) or DEFAULT_PORT))
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("FAASFLOW_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from faasflow.runtime.handler import ShardRuntime

    try:
        runtime = ShardRuntime.from_environment()
    except Exception as exc:  # noqa: BLE001 - the container stops, and says why
        logger.error("executor %s did not start: %s", os.environ.get("FAASFLOW_EXECUTOR"),
                     exc if isinstance(exc, FaasflowError) else f"{type(exc).__name__}: {exc}")
        return 1
    server = make_server(runtime, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    logger.info("serving executor %s shard %d on %s: %s", runtime.spec.name, runtime.shard, server.url,
                codec.dumps_text(runtime.instance.status()))
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
