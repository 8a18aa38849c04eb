"""The reference app's semantic variant (``template.semantic.yaml``) deployed with
``faasflow deploy --emulate-images``: its encoder is a container image, which the emulator
runs through a zip stand-in (no Docker here; ``faasflow.deploy.stand_ins``). Through
API Gateway it answers like the embedded engine, with the real all-MiniLM-L6-v2 model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from examples.common import load_corpus  # noqa: E402
from examples.semantic_search.__main__ import FLOW_YAML  # noqa: E402
from examples.sharded_search.corpus import write_corpus  # noqa: E402
from faasflow import Client, Document, DocumentArray, Flow  # noqa: E402
from faasflow.deploy.layers import write  # noqa: E402
from faasflow.executors.model_files import DEFAULT_MODEL, ModelNotFoundError, resolve_model  # noqa: E402
from faasflow.testing import MiniStack  # noqa: E402
from tests.support.results import per_shard
from tests.support.side_by_side import deployed_with, embedded_with  # noqa: E402

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "template.semantic.yaml"
STACK = "faasflow-semantic"
QUERIES = (0, 41, 119)
PARAPHRASE = "a fast auburn fox leaps across a sleepy hound"


@pytest.fixture(scope="module")
def deployment(ministack: MiniStack) -> Iterator[dict]:
    try:
        resolve_model(DEFAULT_MODEL)
    except ModelNotFoundError as exc:
        pytest.skip(f"{exc} (make model exports it)")
    ministack.reset()
    command = [sys.executable, "-m", "faasflow", "deploy", str(FLOW_YAML), "--template", TEMPLATE, "--stack-name",
               STACK, "--endpoint-url", ministack.endpoint, "--emulate-images", "--json"]  # as a user deploys it
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-4000:]
    yield json.loads(done.stdout)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> DocumentArray:
    docs = load_corpus(write_corpus(tmp_path_factory.mktemp("corpus") / "c.txt", 120))
    docs.append(Document(id="fox", text="the quick brown fox jumps over the lazy dog"))
    return docs


@pytest.fixture(scope="module")
def embedded(corpus: DocumentArray, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    yield from embedded_with(FLOW_YAML, corpus, tmp_path_factory.mktemp("embedded"), request_size=40)


@pytest.fixture(scope="module")
def indexed(deployment: dict, corpus: DocumentArray) -> Client:
    return deployed_with(deployment["ApiUrlLocal"], corpus, request_size=40, timeout=180)


def test_the_encoder_runs_as_a_stand_in_for_its_image(deployment: dict, ministack: MiniStack):
    lam = ministack.client("lambda")
    config = lam.get_function_configuration(FunctionName=deployment["EncoderFunctionName"])
    assert config["PackageType"] == "Zip" and config["Handler"] == "faasflow.runtime.handler.handle"
    variables = config["Environment"]["Variables"]
    model_dir = Path(variables["FAASFLOW_MODEL_DIR"])  # the image's ENV, at the rehearsed image's folder
    assert (model_dir / DEFAULT_MODEL / "model.onnx").is_file()
    assert variables["FAASFLOW_USES"] == "faasflow.executors.onnx_encoder.OnnxEncoder"
    assert "Layers" not in config or not config["Layers"]  # the image's own packages, not the zip functions' layers


def test_status_reports_each_shards_runtime_only_when_asked(deployment: dict):
    url = f"{deployment['ApiUrlLocal']}/status"
    plain = httpx.get(url, timeout=60).json()
    assert all("runtime" not in e for e in plain["executors"])  # no function is invoked for a health check
    executors = {e["name"]: e for e in httpx.get(url, params={"runtime": "true"}, timeout=180).json()["executors"]}
    (encoder,) = executors["encoder"]["runtime"]
    assert encoder["provider"] == "CPUExecutionProvider" and encoder["model"] == DEFAULT_MODEL
    assert encoder["device"] == "auto" and encoder["shard"] == 0
    assert [r["shard"] for r in executors["index"]["runtime"]] == [0, 1, 2]
    ping = subprocess.run([sys.executable, "-m", "faasflow", "ping", deployment["ApiUrlLocal"], "--runtime",
                           "--timeout", "120"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert ping.returncode == 0, ping.stderr
    assert "encoder shard 0: model all-MiniLM-L6-v2, device auto, provider CPUExecutionProvider" in ping.stdout
    assert "index shard 2: nothing to report" in ping.stdout


def test_index_then_search_conforms_to_the_embedded_engine(indexed: Client, embedded: Flow, corpus: DocumentArray):
    for query in [Document(id=f"q{p}", text=corpus[p].text) for p in QUERIES] + [Document(id="p", text=PARAPHRASE)]:
        remote = indexed.post("/search", query, parameters={"limit": 5})[0]
        local = embedded.post("/search", query, parameters={"limit": 5})[0]
        assert [m.id for m in remote.matches] == [m.id for m in local.matches]
        assert np.allclose([m.scores["cosine"].value for m in remote.matches],
                           [m.scores["cosine"].value for m in local.matches], atol=1e-5)
        assert np.allclose(remote.embedding, local.embedding, atol=1e-5)
    for position in QUERIES:
        top = indexed.post("/search", Document(text=corpus[position].text), parameters={"limit": 1})[0].matches[0]
        assert top.id == corpus[position].id and top.scores["cosine"].value == pytest.approx(0, abs=1e-5)
    assert indexed.post("/search", Document(text=PARAPHRASE), parameters={"limit": 1})[0].matches[0].id == "fox"


def test_counts_per_shard_match(indexed: Client, embedded: Flow, corpus: DocumentArray):
    remote = per_shard(indexed.post("/count", return_responses=True)[0].parameters["__results__"], "index")
    local = per_shard(embedded.post("/count", return_responses=True)[0].parameters["__results__"], "index")
    assert remote == local and sum(c["count"] for c in remote) == len(corpus)


def test_semantic_template_passes_sam_validate_lint(emulator_tools: None):
    from faasflow.deploy.sam import validate

    write(Flow.load_config(FLOW_YAML).plan, ROOT, TEMPLATE)
    output = validate(ROOT, template=TEMPLATE)
    assert "is a valid SAM Template" in output and "W" not in {line[:1] for line in output.splitlines()}
