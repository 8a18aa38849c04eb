"""``faasflow status``: how a Flow is doing. ``--url``: the embedding drift its VectorIndexer
shards report (``GET /status?runtime=true`` of a served Flow or a deployed API);
``--stack-name``: a deployed Flow's recent batch-indexing runs, and the drift from its API."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from typing import Any

from faasflow.commands.common import int_in_range, positive_float
from faasflow.errors import FaasflowError

INDEXER = "VectorIndexer"
DEFAULT_REGION, DEFAULT_LIMIT = "us-east-1", 10
STACK_ONLY = (("--endpoint-url", "endpoint_url"), ("--region", "region"), ("--limit", "limit"))
NOT_YET = "no query batch seen yet by the process that answered"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "status",
        help="show a Flow's embedding drift and a deployed Flow's recent batch-indexing runs",
        description="With --url (a served Flow or a deployed API): per VectorIndexer shard, the recent queries' "
        "mean cosine similarity to the shard's centroid against the indexed embeddings' own, and the query "
        "batches seen. With --stack-name: the recent runs of the deployed Flow's batch state machine (files put "
        "under incoming/ in its bucket), each with docs indexed, lines rejected and splits failed, and the drift "
        "from the stack's ApiUrl when it answers.",
    )
    parser.add_argument("--url", help="a Flow's gateway, e.g. http://127.0.0.1:8080 or an API Gateway stage URL")
    parser.add_argument("--stack-name", help="the CloudFormation stack of a deployed Flow")
    parser.add_argument("--endpoint-url", help="an emulator's endpoint, e.g. http://127.0.0.1:4566")
    parser.add_argument("--region", help=f"with --stack-name: its region (default {DEFAULT_REGION})")
    parser.add_argument("--limit", type=int_in_range(1, 1000, what="an integer from 1 to 1000"),
                        help=f"with --stack-name: how many runs to list (default {DEFAULT_LIMIT}; Step Functions "
                        "lists at most 1000 a call)")
    parser.add_argument("--api-key", default=os.environ.get("FAASFLOW_API_KEY"),
                        help="API Gateway key, sent as x-api-key (default: $FAASFLOW_API_KEY)")
    parser.add_argument("--timeout", type=positive_float, default=30.0,
                        help="seconds to wait for the gateway's answer (default 30; a deployed Flow asks every shard)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def recent_runs(stack: str, endpoint_url: str | None, region: str, limit: int,
                outputs: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    from faasflow.aws import aws_client
    from faasflow.deploy.sam import stack_outputs

    if outputs is None:
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


def flow_status(url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    """The gateway's ``/status?runtime=true``; FaasflowError (one line) when it cannot answer."""
    from faasflow.extras import CLIENT_MODULES, needs

    with needs("faasflow status --url", "serve", CLIENT_MODULES):
        from faasflow.client import Client, GatewayError
    from pydantic import ValidationError

    from faasflow.serve.schema import FlowStatus

    try:
        with Client(url, api_key=api_key, timeout=timeout) as client:
            status = client.status(runtime=True)
    except GatewayError as exc:
        raise FaasflowError(str(exc)) from None
    except ValueError as exc:  # a URL httpx cannot parse
        raise FaasflowError(f"--url {url!r} is not a URL this can reach: {exc}") from None
    try:  # the shape the rows below read: anything else is not a faasflow gateway's answer
        FlowStatus.model_validate(status)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise FaasflowError(f"{url}/status did not answer a Flow's status: {where}: {first['msg']}") from None
    return status


def drift_rows(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per shard that reports drift (or is a VectorIndexer's, which reports nothing
    before its first query batch), from a ``/status?runtime=true`` answer."""
    rows = []
    for executor in status.get("executors") or []:
        reports = list(executor.get("runtime") or [])
        indexer = str(executor.get("uses", "")).endswith(INDEXER)
        if indexer:
            reports += [{}] * (int(executor.get("shards") or 1) - len(reports))
        for position, report in enumerate(reports):
            report = report if isinstance(report, Mapping) else {"error": f"not a report: {report!r}"}
            row: dict[str, Any] = {"executor": executor.get("name"), "shard": report.get("shard", position)}
            if "query_batches" in report:
                row.update(query_similarity=report.get("query_similarity"),
                           index_similarity=report.get("index_similarity"),
                           query_batches=report["query_batches"], note=report.get("drift_note"))
            elif indexer and "error" in report:
                row.update(query_similarity=None, index_similarity=None, query_batches=0,
                           note=f"cannot report: {report['error']}")
            elif indexer:
                row.update(query_similarity=None, index_similarity=None, query_batches=0, note=NOT_YET)
            else:
                continue
            rows.append(row)
    return rows


def drift_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["  no executor reports embedding drift (a VectorIndexer shard does once it has searched)"]
    lines = []
    for row in rows:
        count = f"{row['query_batches']} query batch{'' if row['query_batches'] == 1 else 'es'}"
        query, index = row["query_similarity"], row["index_similarity"]
        where = f"  {row['executor']} shard {row['shard']}:"
        if query is not None and index is not None:
            ratio = f" (ratio {query / index:.2f})" if index > 0 else ""
            lines.append(f"{where} queries {query:.3f} vs index {index:.3f}{ratio}, {count}")
        else:
            known = "".join(f", {name} {value:.3f}" for name, value in (("queries", query), ("index", index))
                            if value is not None)
            lines.append(f"{where} {row.get('note') or 'no figures'}{known}, {count}")
    return lines


DRIFT_TITLE = "embedding drift (mean cosine similarity to each shard's centroid; queries: the recent batches)"


def api_url(outputs: Mapping[str, str], endpoint_url: str | None) -> str | None:
    """The stack's API: with an emulator, its path-form URL (no wildcard DNS needed)."""
    if endpoint_url and "ApiId" in outputs:
        return f"{endpoint_url.rstrip('/')}/_aws/execute-api/{outputs['ApiId']}/Prod"
    return outputs.get("ApiUrl")


def run(args: argparse.Namespace) -> int:
    if not args.url and not args.stack_name:
        raise FaasflowError("faasflow status needs --url URL (a served Flow or a deployed API) or --stack-name NAME "
                            "(a deployed Flow's stack)")
    if args.stack_name:
        return _run_stack(args)
    given = [option for option, name in STACK_ONLY if getattr(args, name) is not None]
    if given:  # they would be ignored: they say where a stack is, and --url says where the Flow is
        raise FaasflowError(f"{', '.join(given)} only mean(s) something with --stack-name")
    status = flow_status(args.url, args.api_key, args.timeout)
    rows = drift_rows(status)
    if args.json:
        print(json.dumps({"url": args.url, "flow": status.get("name"), "drift": rows}, indent=2))
        return 0
    print(f"{args.url}: Flow {status.get('name')!r} {DRIFT_TITLE}")
    print("\n".join(drift_lines(rows)))
    return 0


def _run_stack(args: argparse.Namespace) -> int:
    from faasflow.extras import require

    require("faasflow status", "aws")
    from faasflow.deploy.sam import stack_outputs

    region, limit = args.region or DEFAULT_REGION, args.limit or DEFAULT_LIMIT
    outputs = stack_outputs(args.stack_name, args.endpoint_url, region)
    runs = recent_runs(args.stack_name, args.endpoint_url, region, limit, outputs)
    url = args.url or api_url(outputs, args.endpoint_url)
    rows: list[dict[str, Any]] | None = None
    unavailable = None if url else "the stack has no ApiUrl output"
    if url:
        try:  # the runs are what was asked for: an API that does not answer only costs the drift
            rows = drift_rows(flow_status(url, args.api_key, args.timeout))
        except FaasflowError as exc:
            unavailable = str(exc)
    if args.json:
        print(json.dumps({"runs": runs, "drift": rows, **({"drift_unavailable": unavailable} if unavailable else {})},
                         indent=2))
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
    if rows is not None:
        print(f"{url}: {DRIFT_TITLE}")
        print("\n".join(drift_lines(rows)))
    else:
        print(f"embedding drift unavailable: {unavailable}")
    return 0
