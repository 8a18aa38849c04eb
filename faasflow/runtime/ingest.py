"""Batch indexing on AWS: a JSON-lines object dropped under ``incoming/`` gets indexed.

Two functions:

* the **ingest** function (S3 trigger) plans newline-aligned byte-range splits of the
  object (from its size and a 64 KB sample: no pre-pass), writes them to
  ``runs/<run>/splits.jsonl``, and starts one run of the batch state machine, named after
  bucket, key and object version, so a re-delivered event starts no second run;
* the **batch worker** reads one split with a ranged GET and parses it into documents for
  the Flow's ``/index`` route (``op: read``), and writes the run's summary (``op:
  summarize``): docs indexed, lines rejected with their line numbers and reasons.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from functools import cache
from typing import Any, cast
from urllib.parse import unquote_plus

from faasflow import codec
from faasflow.batch import (
    DEFAULT_BATCH_SIZE,
    SAMPLE_BYTES,
    ReadRange,
    Split,
    parse_split,
    plan_splits,
    split_bytes_for,
    summarize,
)
from faasflow.runtime.payload import encode_docs
from faasflow.wire import BATCH_INLINE_LIMIT

INCOMING = "incoming/"
RUNS = "runs/"
SUMMARIES = "summaries/"


@cache  # one client per container: making one costs more than the calls it serves
def _s3() -> Any:
    from faasflow.storage.s3 import s3_client

    return s3_client()


@cache
def _sfn() -> Any:
    from faasflow.runtime.gateway import stepfunctions_client

    return stepfunctions_client()


def run_name(bucket: str, key: str, version: str) -> str:
    """The batch run's execution name: the same object version always gets the same name."""
    return "ingest-" + hashlib.sha256(f"{bucket}/{key}#{version}".encode()).hexdigest()[:48]


def ranged_reader(s3: Any, bucket: str, key: str, version: str | None) -> ReadRange:
    def read(start: int, end: int) -> bytes:
        if end <= start:
            return b""
        extra = {"VersionId": version} if version and version != "null" else {}
        answer = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}", **extra)
        return cast(bytes, answer["Body"].read())

    return read


def start_runs(event: Mapping[str, Any], s3: Any = None, sfn: Any = None) -> list[dict[str, Any]]:
    """Handle an S3 ObjectCreated event: one batch run per new object version."""
    s3 = s3 or _s3()
    sfn = sfn or _sfn()
    batch_size = int(os.environ.get("FAASFLOW_BATCH_SIZE", DEFAULT_BATCH_SIZE))
    started = []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        obj = record["s3"]["object"]
        key = unquote_plus(obj["key"])
        version = obj.get("versionId") or obj.get("eTag") or str(obj.get("sequencer", ""))
        size = int(obj.get("size") or s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        read = ranged_reader(s3, bucket, key, obj.get("versionId"))
        splits = plan_splits(size, split_bytes_for(read(0, min(size, SAMPLE_BYTES)), batch_size))
        run = run_name(bucket, key, version)
        splits_key = f"{RUNS}{run}/splits.jsonl"
        s3.put_object(
            Bucket=bucket, Key=splits_key, Body=b"".join(codec.dumps(s.to_dict()) + b"\n" for s in splits)
        )
        state = {
            "run": run,
            "bucket": bucket,
            "key": key,
            "version": obj.get("versionId"),
            "size": size,
            "splits_key": splits_key,
            "splits": len(splits),
        }
        try:
            sfn.start_execution(
                stateMachineArn=os.environ["FAASFLOW_BATCH_STATE_MACHINE_ARN"], name=run, input=codec.dumps_text(state)
            )
            started.append({**state, "started": True})
        except Exception as exc:  # noqa: BLE001
            if "ExecutionAlreadyExists" not in type(exc).__name__ + str(getattr(exc, "response", "")):
                raise
            started.append({**state, "started": False, "duplicate": True})  # same object version: one run
    return started


def read_split(event: Mapping[str, Any], s3: Any = None) -> dict[str, Any]:
    """Read and parse one split: the ``gateway`` envelope of the Flow's /index route."""
    s3 = s3 or _s3()
    split = Split(**event["split"])
    read = ranged_reader(s3, event["bucket"], event["key"], event.get("version"))
    report = parse_split(read, split, int(event["size"]), f"s3://{event['bucket']}/{event['key']}")
    from faasflow.array import DocumentArray

    request = event["request"]
    limit = int(event.get("inline_limit") or BATCH_INLINE_LIMIT)
    return {
        "docs": encode_docs(DocumentArray(report.docs), f"{request['request_id']}/gateway", limit),
        "lines": report.lines,
        "rejected": report.rejected,
        "count": len(report.docs),
    }


def summarize_run(event: Mapping[str, Any], s3: Any = None) -> dict[str, Any]:
    """Write the run's summary next to the object's name under ``summaries/``, and return it."""
    s3 = s3 or _s3()
    event = event.get("state", event)  # the batch machine passes its whole state
    reports, failed = [], []
    for position, result in enumerate(event.get("results") or []):
        if isinstance(result, Mapping) and "index" in result and "Error" not in result:
            reports.append(dict(result))
        else:
            failed.append({"split": position, "error": _failure_text(result)})
    if event.get("failure"):
        failed.append({"split": None, "error": _failure_text(event["failure"])})
    summary = summarize(f"s3://{event['bucket']}/{event['key']}", reports, failed)
    summary["run"] = event["run"]
    name = event["key"][len(INCOMING) :] if event["key"].startswith(INCOMING) else event["key"]
    body = codec.dumps(summary)
    s3.put_object(Bucket=event["bucket"], Key=f"{SUMMARIES}{name}.summary.json", Body=body)
    s3.put_object(Bucket=event["bucket"], Key=f"{RUNS}{event['run']}/summary.json", Body=body)
    return {k: summary[k] for k in ("run", "source", "lines", "docs_indexed", "docs_failed")} | {
        "rejected": len(summary["rejected"]),
        "failed_splits": len(summary["failed_splits"]),
    }


def _failure_text(result: Any) -> str:
    if isinstance(result, Mapping):
        return f"{result.get('Error', 'Error')}: {result.get('Cause', '')}"[:2000]
    return str(result)[:2000]


def handler(event: Mapping[str, Any], context: Any = None) -> Any:
    """Lambda entry point of the ingest function (S3 events) and the batch worker (ops)."""
    if "Records" in event:
        return start_runs(event)
    op = event.get("op")
    if op == "read":
        return read_split(event)
    if op == "summarize":
        return summarize_run(event)
    raise ValueError(f"unknown batch event: {sorted(event)}")
