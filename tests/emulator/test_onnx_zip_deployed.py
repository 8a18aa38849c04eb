"""An ONNX encoder deployed as a zip function (python3.13): ONNX Runtime from the ONNX
layer, the model from its models layer on the import path. Deployed on the emulator, it
embeds and searches as the embedded engine does."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from faasflow import Client, Document, DocumentArray, Flow  # noqa: E402
from faasflow.deploy.layers import write  # noqa: E402
from faasflow.deploy.sam import (  # noqa: E402
    LAMBDA_UNZIPPED_LIMIT,
    build,
    check_package_sizes,
    deploy,
    zip_package_sizes,
)
from faasflow.executors.model_files import DEFAULT_MODEL, MODEL_DIR_ENV, ModelNotFoundError, resolve_model  # noqa: E402
from faasflow.testing import MiniStack  # noqa: E402
from tests.support.image_project import ENCODER, TINY, make_project  # noqa: E402

pytestmark = pytest.mark.emulator

TEXTS = ["a red bicycle by the sea", "the night train to the coast", "children fly a kite", "a red boat sails out"]


def zip_flow() -> Flow:
    return (Flow(name="onnxzip")
            .add(uses=ENCODER, name="encoder", uses_with={"model": TINY})
            .add(uses="functions.doc_store.DocStore", name="db", shards=2, polling={"/query": "ALL", "/index": "ANY"}))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("onnxzip") / "p")


@pytest.fixture(scope="module")
def deployment(project: Path, ministack: MiniStack) -> dict[str, str]:
    ministack.reset()
    write(zip_flow().plan, project)
    return deploy(project, "onnxzip", endpoint_url=ministack.endpoint)


@pytest.fixture(scope="module")
def embedded(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    os.environ[MODEL_DIR_ENV] = str(project / ".faasflow" / "models")
    flow = zip_flow()
    flow.workspace = str(tmp_path_factory.mktemp("embedded"))
    try:
        with flow:
            yield flow
    finally:
        os.environ.pop(MODEL_DIR_ENV, None)


def test_the_encoder_is_a_zip_function_with_the_onnx_and_models_layers(deployment: dict, ministack: MiniStack):
    config = ministack.client("lambda").get_function_configuration(FunctionName=deployment["EncoderFunctionName"])
    assert config["PackageType"] == "Zip" and config["Runtime"] == "python3.13"
    layers = [layer["Arn"].split(":")[-2] for layer in config.get("Layers", [])]
    assert len(layers) == 3 and any("Onnx" in name for name in layers) and any("Models" in name for name in layers)
    assert "FAASFLOW_MODEL_DIR" not in config["Environment"]["Variables"]  # found on the import path


def test_embeddings_and_matches_equal_the_embedded_engines(deployment: dict, embedded: Flow):
    client = Client(deployment["ApiUrlLocal"], timeout=180)
    docs = DocumentArray(Document(id=f"t{i}", text=text) for i, text in enumerate(TEXTS))
    remote, local = client.post("/index", docs), embedded.post("/index", docs)
    assert remote[0].embedding is not None
    assert np.allclose(np.stack(remote.embeddings), np.stack(local.embeddings), atol=1e-5)
    query = Document(id="q", text="red bicycle")
    remote_q = client.post("/query", query, parameters={"limit": 3})
    local_q = embedded.post("/query", query, parameters={"limit": 3})
    assert [d.id for d in remote_q] == [d.id for d in local_q] and len(remote_q) == 3
    scores = [[next(iter(d.scores.values())).value for d in answer] for answer in (remote_q, local_q)]
    assert np.allclose(*scores, atol=1e-5)


def test_the_real_model_fits_a_zip_function_with_its_layers(project: Path, deployment: dict):
    """all-MiniLM-L6-v2 (91 MB) plus numpy, ONNX Runtime and tokenizers: under Lambda's 250 MB
    unzipped, checked on what `sam build` really installed (the ONNX layer is cached by then)."""
    try:
        resolve_model(DEFAULT_MODEL)
    except ModelNotFoundError as exc:
        pytest.skip(f"{exc} (make model exports it)")
    cache = project / ".faasflow" / "models" / DEFAULT_MODEL
    if not cache.exists():
        shutil.copytree(resolve_model(DEFAULT_MODEL).folder, cache)
    flow = Flow(name="minilm").add(uses=ENCODER, name="encoder")  # the default model
    write(flow.plan, project, "template.minilm.yaml")
    build(project, template="template.minilm.yaml")
    parts = zip_package_sizes(project, "template.minilm.yaml")["EncoderFunction"]
    total = sum(parts.values())
    print(f"\nall-MiniLM-L6-v2 in a zip function: {total / 1e6:.1f} MB of {LAMBDA_UNZIPPED_LIMIT / 1e6:.1f} MB "
          f"({', '.join(f'{k} {v / 1e6:.1f} MB' for k, v in parts.items())})")
    assert parts["EncoderModelsLayer"] > 80e6 and parts["OnnxLayer"] > 100e6  # the real things were measured
    check_package_sizes(project, "template.minilm.yaml")
