"""``faasflow status``: the recent batch-indexing runs of a deployed Flow."""

from __future__ import annotations

import argparse
import json

from faasflow.commands.common import int_in_range


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "status",
        help="show the recent batch-indexing runs of a deployed Flow",
        description="List the recent runs of a deployed Flow's batch state machine (files put under incoming/ in "
        "its bucket), with each run's summary: docs indexed, lines rejected, splits failed.",
    )
    parser.add_argument("--stack-name", required=True, help="the CloudFormation stack of the Flow")
    parser.add_argument("--endpoint-url", help="an emulator's endpoint, e.g. http://127.0.0.1:4566")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--limit", type=int_in_range(1, 1000, what="an integer from 1 to 1000"), default=10,
                        help="how many runs to list (default 10; Step Functions lists at most 1000 a call)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def recent_runs(stack: str, endpoint_url: str | None, region: str, limit: int) -> list[dict]:
    from faasflow.aws import aws_client
    from faasflow.deploy.sam import stack_outputs

    outputs = stack_outputs(stack, endpoint_url, region)
    emulated = bool(endpoint_url)
    sfn = aws_client("stepfunctions", endpoint_url, region, dummy_credentials=emulated)
    s3 = aws_client("s3", endpoint_url, region, dummy_credentials=emulated)
    runs = []
    answer = sfn.list_executions(stateMachineArn=outputs["BatchStateMachineArn"], maxResults=limit)
    for execution in answer["executions"]:
        entry = {"run": execution["name"], "status": execution["status"], "started": str(execution["startDate"])}
        try:
            body = s3.get_object(Bucket=outputs["BucketName"], Key=f"runs/{execution['name']}/summary.json")["Body"]
            summary = json.loads(body.read())
            entry.update(
                source=summary["source"],
                docs_indexed=summary["docs_indexed"],
                rejected=len(summary["rejected"]),
                failed_splits=len(summary["failed_splits"]),
            )
        except s3.exceptions.NoSuchKey:
            pass
        runs.append(entry)
    return runs


def run(args: argparse.Namespace) -> int:
    from faasflow.extras import require

    require("faasflow status", "aws")
    runs = recent_runs(args.stack_name, args.endpoint_url, args.region, args.limit)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print("no batch runs yet: put a JSON-lines file under incoming/ in the Flow's bucket")
    for entry in runs:
        done = (
            f"{entry['docs_indexed']:,} docs, {entry['rejected']} lines rejected, "
            f"{entry['failed_splits']} splits failed"
            if "docs_indexed" in entry
            else "no summary yet"
        )
        print(f"{entry['started']}  {entry['status']:<10} {entry.get('source', entry['run'])}: {done}")
    return 0
