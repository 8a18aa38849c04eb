"""Index a JSON-lines file through a deployed Flow's bucket and wait for the run's summary.

An object put under ``incoming/`` triggers the ingest function, which starts one run of the
batch state machine named after the object's bucket, key and version
(``faasflow.runtime.ingest.run_name``). The same name is computed here from what
``put_object`` answers, so the wait follows this upload's run, not one that happened to
run at the time; a run that started under another name (an emulator that sends another
version in its event) is recognised as the one that was not there before the upload.
The same bytes put at the same key again start no second run: their earlier run's summary
is the answer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from faasflow.runtime.ingest import INCOMING, RUNS, run_name

FINISHED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")


class BatchRunError(RuntimeError):
    """The batch run did not start, failed, or did not finish in time."""


def incoming_key(path: Path, key: str | None = None) -> str:
    """``incoming/<key>``: the key as given (prefixed when it lacks the prefix), else the file's name."""
    name = key or path.name
    return name if name.startswith(INCOMING) else INCOMING + name.lstrip("/")


def _executions(sfn: Any, machine_arn: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn):
        for execution in page.get("executions", []):
            found[execution["name"]] = execution
    return found


def _summary(s3: Any, bucket: str, run: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{RUNS}{run}/summary.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    summary: dict[str, Any] = json.loads(body)
    return summary


def index_uploaded_file(s3: Any, sfn: Any, bucket: str, machine_arn: str, path: str | Path,
                        key: str | None = None, timeout_s: float = 300, poll_s: float = 0.5) -> dict[str, Any]:
    """Upload ``path`` under ``incoming/`` of ``bucket`` and return its batch run's summary
    (``lines``, ``docs_indexed``, ``docs_failed``, ``rejected``, ``failed_splits``, ``run``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such JSON-lines file: {path}")
    object_key = incoming_key(path, key)
    before = set(_executions(sfn, machine_arn))
    answer = s3.put_object(Bucket=bucket, Key=object_key, Body=path.read_bytes())
    version = answer.get("VersionId") or str(answer.get("ETag", "")).strip('"')
    expected = run_name(bucket, object_key, version)
    deadline = time.monotonic() + timeout_s
    while True:
        executions = _executions(sfn, machine_arn)
        run = expected if expected in executions else next((n for n in executions if n not in before), None)
        if run is not None:
            status = executions[run]["status"]
            if status in FINISHED_BADLY:
                detail = sfn.describe_execution(executionArn=executions[run]["executionArn"])
                raise BatchRunError(f"the batch run {run} of s3://{bucket}/{object_key} ended {status}: "
                                    f"{detail.get('error', '')} {detail.get('cause', '')}".rstrip())
            if status == "SUCCEEDED" and (summary := _summary(s3, bucket, run)) is not None:
                return summary
        if time.monotonic() > deadline:
            state = f"run {run} is {executions[run]['status']}" if run else "no batch run started"
            raise BatchRunError(f"s3://{bucket}/{object_key}: {state} after {timeout_s:g} s")
        time.sleep(poll_s)
