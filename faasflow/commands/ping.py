"""``faasflow ping URL``: is a served or deployed Flow up and ready? (``GET /status``)"""

from __future__ import annotations

import argparse
import json
import os

from faasflow.commands.common import positive_float


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ping", help="check /status of a served or deployed Flow",
        description="Ask a gateway for its /status. Exit code 0: ready; 1: answers but not ready; "
                    "2: no answer or an error.")
    parser.add_argument("url", help="the gateway's URL, e.g. http://127.0.0.1:8080 or an API Gateway stage URL")
    parser.add_argument("--api-key", default=os.environ.get("FAASFLOW_API_KEY"),
                        help="API Gateway key, sent as x-api-key (default: $FAASFLOW_API_KEY)")
    parser.add_argument("--auth", choices=["iam"], default=None,
                        help="iam: sign the request with SigV4 and the default AWS credentials (a Flow with auth: iam)")
    parser.add_argument("--aws-region", default=None, help="with --auth iam: the API's region (default: from the URL)")
    parser.add_argument("--timeout", type=positive_float, default=10.0,
                        help="seconds to wait for the answer (default 10)")
    parser.add_argument("--json", action="store_true", help="print the whole status as JSON")
    parser.add_argument("--runtime", action="store_true",
                        help="also show what each executor shard reports of itself (an encoder's execution provider); "
                        "a deployed Flow invokes every executor function for it")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import fail
    from faasflow.extras import CLIENT_MODULES, needs, require

    with needs("faasflow ping", "serve", CLIENT_MODULES):
        from faasflow.client import Client, GatewayError
    if args.auth == "iam":  # signing finds the AWS credentials with boto3
        require("faasflow ping --auth iam", "aws")

    try:
        with Client(args.url, api_key=args.api_key, timeout=args.timeout, auth=args.auth,
                    aws_region=args.aws_region) as client:
            status = client.status(runtime=args.runtime)
    except GatewayError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        executors = ", ".join(f"{e['name']}" + (f" x{e['shards']}" if e.get("shards", 1) > 1 else "")
                              for e in status.get("executors", []))
        state = "ready" if status.get("ready") else "NOT ready"
        print(f"{args.url}: Flow {status.get('name')!r} {state} (faasflow {status.get('version')}, "
              f"{status.get('backend')}); executors: {executors}; endpoints: {', '.join(status.get('endpoints', []))}")
        for executor in status.get("executors", []) if args.runtime else []:
            for position, report in enumerate(executor.get("runtime") or []):
                details = ", ".join(f"{k} {v}" for k, v in report.items() if k != "shard")
                print(f"  {executor['name']} shard {report.get('shard', position)}: {details or 'nothing to report'}")
    return 0 if status.get("ready") else 1
