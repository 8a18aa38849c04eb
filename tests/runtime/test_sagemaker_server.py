"""The GPU image's server, in this process over real HTTP: the SageMaker contract (``GET
/ping``, ``POST /invocations``), the same answers as the embedded engine when the state
machine's GPU branches call it, and a clear refusal when CUDA was required but is not usable."""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from faasflow import Document, DocumentArray, Flow  # noqa: E402
from faasflow.compiler.asl import compile_asl  # noqa: E402
from faasflow.executors import onnx_sessions  # noqa: E402
from faasflow.executors.onnx_sessions import CPU, CUDA  # noqa: E402
from faasflow.runtime import sagemaker  # noqa: E402
from faasflow.runtime.handler import ShardRuntime  # noqa: E402
from faasflow.runtime.hops import resolve  # noqa: E402
from faasflow.runtime.payload import decode_docs, encode_docs  # noqa: E402
from tests.support import asl_eval  # noqa: E402
from tests.support.image_project import ENCODER, TINY, make_project  # noqa: E402
from tests.support.tiny_models import expected_text_embeddings  # noqa: E402

TEXTS = ["the cat sat on the mat", "a dog ran far", "away", "the mat", "cat dog", "on a mat"]


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = make_project(tmp_path / "project")
    monkeypatch.setenv("FAASFLOW_MODEL_DIR", str(project / ".faasflow" / "models"))
    monkeypatch.setenv("FAASFLOW_PAYLOAD_URL", str(tmp_path / "payloads"))
    onnx_sessions.clear()
    return project / ".faasflow" / "models"


def gpu_flow(shards: int) -> Flow:
    return Flow(name="gpu").add(uses=ENCODER, name="gpu-encoder", gpu=True, shards=shards,
                                uses_with={"model": TINY}, polling="ANY")


def shard_env(shard: int, shards: int, tmp: Path) -> dict[str, str]:
    """What the template gives the endpoint's container (FAASFLOW_* as for a function)."""
    return {"FAASFLOW_EXECUTOR": "gpu-encoder", "FAASFLOW_USES": ENCODER,
            "FAASFLOW_USES_WITH": json.dumps({"model": TINY}), "FAASFLOW_SHARD": str(shard),
            "FAASFLOW_SHARDS": str(shards), "FAASFLOW_NEEDS": '["gateway"]', "FAASFLOW_STORAGE_URL": str(tmp / "s")}


@contextmanager
def serving(runtime: ShardRuntime) -> Iterator[sagemaker.InvocationServer]:
    server = sagemaker.make_server(runtime, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def call(server: sagemaker.InvocationServer, method: str, path: str, body: bytes | None = None,
         connection: http.client.HTTPConnection | None = None) -> tuple[int, dict]:
    conn = connection or http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    return answer.status, json.loads(answer.read())


def test_ping_and_invocations_follow_the_contract(model_dir: Path, tmp_path: Path):
    runtime = ShardRuntime.from_environment(shard_env(0, 1, tmp_path))
    with serving(runtime) as server:
        status, ping = call(server, "GET", "/ping")
        assert status == 200 and ping["executor"] == "gpu-encoder" and ping["runtime"]["provider"] == CPU
        docs = DocumentArray(Document(id=str(i), text=t) for i, t in enumerate(TEXTS))
        event = {"request": {"endpoint": "/index", "parameters": {}, "request_id": "r1"}, "stage": "gpu-encoder",
                 "shard": 0, "mode": "single", "input": '{"stage":"gateway","mode":"single"}',
                 "inline_limit": 200000, "values": {"gateway": {"value": {"docs": encode_docs(docs, "g", 200000)}}}}
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
        for _ in range(2):  # one kept-alive connection, as SageMaker's front end holds them
            status, envelope = call(server, "POST", "/invocations", json.dumps(event).encode(), connection)
            assert status == 200
            np.testing.assert_allclose(decode_docs(envelope["docs"]).embeddings,
                                       expected_text_embeddings(TEXTS, max_length=32), atol=1e-6)
        assert call(server, "GET", "/invocations")[0] == 404
        assert call(server, "POST", "/ping", b"{}")[0] == 404
        status, bad = call(server, "POST", "/invocations", b"{not json")
        assert status == 400 and bad["error"]["type"] == "BadRequest"
        status, crashed = call(server, "POST", "/invocations", b'{"mode": "single"}')
        assert status == 500 and crashed["error"]["type"] == "KeyError"  # the state machine's Catch names it
        assert call(server, "GET", "/ping")[0] == 200  # and it goes on serving


def test_the_state_machines_gpu_branches_answer_as_the_embedded_engine(model_dir: Path, tmp_path: Path):
    shards = 2
    flow = gpu_flow(shards)
    docs = DocumentArray(Document(id=f"d{i}", text=t) for i, t in enumerate(TEXTS))
    stage = compile_asl(flow.plan)["States"]["* gpu-encoder"]  # the encoder serves every endpoint
    state = {"request": {"endpoint": "/index", "parameters": {}, "request_id": "r2"},
             "outputs": {"gateway": {"value": {"docs": encode_docs(docs, "r2/gateway", 200000)}}}}
    runtimes = [ShardRuntime.from_environment(shard_env(s, shards, tmp_path)) for s in range(shards)]
    with serving(runtimes[0]) as first, serving(runtimes[1]) as second:
        servers = {"${GpuEncoderShard0EndpointName}": first, "${GpuEncoderShard1EndpointName}": second}

        def invoke(endpoint: str, body: str) -> str:
            status, answer = call(servers[endpoint], "POST", "/invocations", body.encode())
            assert status == 200
            return json.dumps(answer)

        envelopes = [asl_eval.run_gpu_branch(branch, state, invoke) for branch in stage["Branches"]]
    assert not any("error" in e for e in envelopes)
    assert sum(len(decode_docs(e["docs"])) for e in envelopes if not e.get("skipped")) == len(TEXTS)
    remote = resolve({"stage": "gpu-encoder", "mode": "ANY"}, {"gpu-encoder": envelopes}, {})
    with flow:
        local = flow.post("/index", docs)
    assert remote.ids == local.ids
    np.testing.assert_allclose(remote.embeddings, local.embeddings, atol=1e-6)


def test_a_required_gpu_that_is_not_usable_stops_the_server_with_the_reason(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    """Only CUDA's availability is mocked: onnxruntime offers the provider, cannot start it
    on this machine, and the container must refuse to serve rather than run on the CPU."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    for key, value in {**shard_env(0, 1, tmp_path), "FAASFLOW_ONNX_DEVICE": "cuda"}.items():
        monkeypatch.setenv(key, value)
    with caplog.at_level(logging.ERROR, logger="faasflow.sagemaker"), pytest.warns(UserWarning):
        assert sagemaker.main(["serve", "--host", "127.0.0.1", "--port", "0"]) == 1
    assert "shard 0 failed to start: ProviderUnavailableError: device='cuda' was required" in caplog.text
