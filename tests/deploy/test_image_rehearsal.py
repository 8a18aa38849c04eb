"""Each image's entry point, run as the image would run it but without Docker: the files
its Dockerfile copies laid out in a folder, its ENV, and its command on a virtual env made
from the image's own generated requirements (Python 3.12 where this machine has it).

The Lambda image's handler answers its event contract; the GPU image's server answers
``/ping`` and ``/invocations`` over real HTTP on the CPU here, and as built (CUDA
required) it refuses to start on a machine where onnxruntime-gpu cannot use a GPU.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("onnx", reason="onnx (dev extra) builds the tiny model the test project bakes")

from faasflow import Document, DocumentArray, Flow  # noqa: E402
from faasflow.deploy.layers import write  # noqa: E402
from faasflow.deploy.rehearsal import Rehearsal, command, image_env, rehearse  # noqa: E402
from faasflow.deploy.tools import ToolsUnavailable  # noqa: E402
from faasflow.runtime.payload import decode_docs  # noqa: E402
from tests.support.image_project import ENCODER, TINY, environment_of, make_project, stage_event  # noqa: E402
from tests.support.tiny_models import expected_text_embeddings  # noqa: E402

TEXTS = ["the cat sat on the mat", "a dog ran far", "away", "mat"]


def env_or_skip(kind: str) -> Path:
    try:
        return image_env(kind)
    except ToolsUnavailable as exc:
        pytest.skip(f"cannot make the {kind} image's env here: {exc}")


def clean_environ() -> dict[str, str]:
    """This process's environment minus what would leak the test env into the image's."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FAASFLOW_", "VIRTUAL_ENV"))}


def built(tmp_path: Path, flow: Flow, dockerfile: str) -> tuple[Rehearsal, dict]:
    project = make_project(tmp_path / "project")
    write(flow.plan, project)
    template = yaml.safe_load((project / "template.yaml").read_text())
    return rehearse(project / dockerfile, project, tmp_path / "image"), template


def test_the_lambda_image_handler_answers_its_event_contract(tmp_path: Path):
    venv = env_or_skip("lambda")
    flow = Flow(name="cpu").add(uses=ENCODER, name="encoder", package="image", uses_with={"model": TINY})
    rehearsal, template = built(tmp_path, flow, "infra/images/encoder.Dockerfile")
    function = template["Resources"]["EncoderFunction"]["Properties"]
    env = {**clean_environ(), **rehearsal.env,
           **environment_of(template["Globals"]["Function"]["Environment"]["Variables"], tmp_path),
           **environment_of(function["Environment"]["Variables"], tmp_path),
           "PYTHONPATH": rehearsal.env["LAMBDA_TASK_ROOT"]}  # the Lambda runtime puts the task root on sys.path
    docs = DocumentArray(Document(id=str(i), text=t) for i, t in enumerate(TEXTS))
    events = [stage_event(flow, "/index", "encoder", docs), {"mode": "single"}, {"faasflow": "status"}]
    out = subprocess.run(command(rehearsal, venv), input="\n".join(json.dumps(e) for e in events),
                         cwd=rehearsal.workdir, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    init, answered, failed, status = (json.loads(line) for line in out.stdout.splitlines())
    assert init["init_seconds"] > 0
    envelope = answered["result"]
    np.testing.assert_allclose(decode_docs(envelope["docs"]).embeddings,
                               expected_text_embeddings(TEXTS, max_length=32), atol=1e-6)
    assert failed["error"]["type"] == "KeyError"  # Lambda reports it; the state machine's Catch names it
    assert status["result"] == {**status["result"], "shard": 0, "provider": "CPUExecutionProvider", "model": TINY}
    # what ran is what the image holds, not this checkout
    assert (rehearsal.path("/var/task/faasflow/runtime/handler.py")).is_file()
    assert (rehearsal.path(f"/opt/faasflow/models/{TINY}/model.onnx")).is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextmanager
def gpu_server(tmp_path: Path, device: str | None) -> Iterator[tuple[subprocess.Popen, str, Flow]]:
    venv = env_or_skip("gpu")
    flow = Flow(name="gpu").add(uses=ENCODER, name="gpu-encoder", gpu=True, uses_with={"model": TINY})
    rehearsal, template = built(tmp_path, flow, "infra/images/gpu-encoder.gpu.Dockerfile")
    container = template["Resources"]["GpuEncoderModel"]["Properties"]["PrimaryContainer"]
    port = free_port()
    env = {**clean_environ(), **rehearsal.env, **environment_of(container["Environment"], tmp_path),
           "SAGEMAKER_BIND_TO_PORT": str(port)}
    if device is not None:
        env["FAASFLOW_ONNX_DEVICE"] = device
    process = subprocess.Popen(command(rehearsal, venv), cwd=rehearsal.workdir, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield process, f"http://127.0.0.1:{port}", flow
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


def wait_ready(process: subprocess.Popen, url: str, timeout: float = 120) -> dict | None:
    """The /ping answer once the server is up, or None if the process exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        try:
            status, body = http("GET", f"{url}/ping")
        except (ConnectionError, urllib.error.URLError):
            time.sleep(0.1)
            continue
        if status == 200:
            return body
    raise TimeoutError(f"no /ping answer from {url} in {timeout} s")


def test_the_gpu_image_serves_the_sagemaker_contract_on_this_machines_device(tmp_path: Path):
    with gpu_server(tmp_path, device="auto") as (process, url, flow):
        ping = wait_ready(process, url)
        assert ping is not None, process.stdout.read() if process.stdout else ""
        assert ping["executor"] == "gpu-encoder" and ping["runtime"]["provider"] in (
            "CPUExecutionProvider", "CUDAExecutionProvider")
        docs = DocumentArray(Document(id=str(i), text=t) for i, t in enumerate(TEXTS))
        status, envelope = http("POST", f"{url}/invocations", json.dumps(stage_event(flow, "/x", "gpu-encoder", docs))
                                .encode())
        assert status == 200
        np.testing.assert_allclose(decode_docs(envelope["docs"]).embeddings,
                                   expected_text_embeddings(TEXTS, max_length=32), atol=1e-5)
        assert http("GET", f"{url}/nothing")[0] == 404


def test_the_gpu_image_as_built_never_serves_on_the_cpu(tmp_path: Path):
    with gpu_server(tmp_path, device=None) as (process, url, _):  # the image's own FAASFLOW_ONNX_DEVICE=cuda
        ping = wait_ready(process, url)
        if ping is not None:  # a machine with a usable GPU
            assert ping["runtime"]["provider"] == "CUDAExecutionProvider"
            return
        output = process.stdout.read() if process.stdout else ""
        assert process.returncode == 1
        assert "device='cuda' was required" in output and "CUDAExecutionProvider" in output
