"""``faasflow serve flow.yml``: the Flow behind the HTTP gateway, with uvicorn."""

from __future__ import annotations

import argparse
import sys

from faasflow.commands.common import port_number, positive_float, positive_int

DEFAULT_PORT = 8080


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve", help="serve a Flow over HTTP (REST gateway, OpenAPI at /docs, metrics at /metrics)",
        description="Start the Flow in-process and serve it over HTTP until Ctrl-C.")
    parser.add_argument("flow", help="the Flow YAML file")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=port_number, default=None,
                        help=f"port (default: the Flow's own 'port', else {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--workspace", help="where executors keep their data (default .faasflow/workspace)")
    parser.add_argument("--max-body-bytes", type=positive_int, default=None,
                        help="refuse larger request bodies with 413 (default 10 MiB, API Gateway's limit)")
    parser.add_argument("--body-timeout-s", type=positive_float, default=None,
                        help="answer 408 and close the connection when a request body is not fully received "
                        "within this many seconds (default 30)")
    parser.add_argument("--max-response-bytes", type=positive_int, default=None,
                        help="answer 422 response_too_large instead of a larger answer (default 64 MiB)")
    parser.add_argument("--debug", action="store_true", help="put executors' stack traces in 500 answers")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import MAX_PORT, load_flow
    from faasflow.embedded import EmbeddedBackend
    from faasflow.errors import FlowConfigError
    from faasflow.extras import SERVER_MODULES, needs

    with needs("faasflow serve", "serve", SERVER_MODULES):  # checked now: uvicorn is imported once the Flow runs
        from faasflow.serve import DEFAULT_MAX_BODY_BYTES, create_app, run_server
        from faasflow.serve.app import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_RESPONSE_BYTES

    flow = load_flow(args.flow, args.workspace)
    port = args.port if args.port is not None else (flow.port or DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
        raise FlowConfigError(f"{args.flow}: 'port' must be 0 to {MAX_PORT}, got {port!r}")
    flow.protocol = None  # this command serves it; `with flow:` must not start a second server
    if flow.plan.auth is not None:  # API Gateway checks it once deployed; this local server cannot
        print(f"faasflow: warning: `auth: {flow.plan.auth}` is checked by the deployed API only: this local "
              f"gateway does not check it and answers every caller that reaches {args.host}", file=sys.stderr)
    with flow:
        app = create_app(EmbeddedBackend(flow), max_body_bytes=args.max_body_bytes or DEFAULT_MAX_BODY_BYTES,
                         debug=args.debug, body_timeout_s=args.body_timeout_s or DEFAULT_BODY_TIMEOUT_S,
                         max_response_bytes=args.max_response_bytes or DEFAULT_MAX_RESPONSE_BYTES)
        run_server(app, args.host, port, access_log=args.access_log,
                   announce=f"Flow {flow.name!r} serving on {{url}} (API docs: {{url}}/docs); Ctrl-C to stop")
    return 0
