"""Each hop logs one JSON line with the request id and emits EMF metrics (Powertools)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faasflow import Document, DocumentArray, Executor, requests
from faasflow.plan import ExecutorSpec
from faasflow.runtime.handler import ShardRuntime
from faasflow.runtime.payload import encode_docs


class Upper(Executor):
    @requests
    def run(self, docs, **kwargs):
        for d in docs:
            d.text = d.text.upper()


class Fails(Executor):
    @requests
    def run(self, docs, **kwargs):
        raise RuntimeError("nope")


def event(docs: DocumentArray) -> dict:
    return {
        "request": {"endpoint": "/x", "parameters": {}, "request_id": "req-123"},
        "input": json.dumps({"stage": "gateway", "mode": "single"}),
        "values": {"gateway": {"value": {"docs": encode_docs(docs, "g", 10_000)}}},
        "mode": "single",
        "inline_limit": 10_000,
    }


def runtime(cls: type, tmp_path: Path) -> ShardRuntime:
    spec = ExecutorSpec(name="upper", uses="x.Upper", cls=cls)
    return ShardRuntime(spec, 0, cls(runtime_args={"name": "upper", "workspace": str(tmp_path)}))


def lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_hop_logs_and_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "demo")
    envelope = runtime(Upper, tmp_path).handle(event(DocumentArray([Document(text="a"), Document(text="b")])))
    assert [d["text"] for d in envelope["docs"]["inline"]] == ["A", "B"]
    out = lines(capsys.readouterr().out)
    log = next(line for line in out if line.get("message") == "hop done")
    assert (log["request_id"], log["executor"], log["endpoint"], log["docs_out"]) == ("req-123", "upper", "/x", 2)
    emf = next(line for line in out if "_aws" in line)
    assert emf["DocsProcessed"] == [2.0] or emf["DocsProcessed"] == 2.0
    assert emf["executor"] == "upper" and "HopLatency" in emf
    shard = next(line for line in out if "_aws" in line and "ShardErrors" in line)
    dimensions = shard["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert [sorted(d) for d in dimensions] == [["executor", "service", "shard"]]
    assert (shard["service"], shard["executor"], shard["shard"], shard["ShardErrors"]) in (
        ("demo", "upper", "0", 0.0), ("demo", "upper", "0", [0.0]))


def test_failed_hop_logs_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "demo-failing")  # a logger of its own, on this test's stdout
    envelope = runtime(Fails, tmp_path).handle(event(DocumentArray([Document(text="a")])))
    assert envelope["error"]["type"] == "RuntimeError"
    out = lines(capsys.readouterr().out)
    log = next(line for line in out if line.get("message") == "executor failed")
    assert log["error"]["message"] == "nope" and log["level"] == "ERROR"
    # the invocation succeeded (the error is in the envelope): the shard's own error metric counts it
    shard = next(line for line in out if "_aws" in line and "ShardErrors" in line)
    assert shard["ShardErrors"] in (1.0, [1.0]) and shard["executor"] == "upper" and shard["shard"] == "0"
