"""OnnxEncoder on tiny models made at test time: text and tensor modes, batching, pooling,
normalization, truncation, the per-process session, and the execution provider rules."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
pytest.importorskip("onnx", reason="onnx (dev extra) builds the tiny test models")

from faasflow import Document, DocumentArray, Flow  # noqa: E402
from faasflow.executors import OnnxEncoder, onnx_sessions  # noqa: E402
from faasflow.executors.model_files import ModelNotFoundError, resolve_model  # noqa: E402
from faasflow.executors.onnx_sessions import CPU, CUDA, ProviderUnavailableError, choose_providers  # noqa: E402
from tests.support.tiny_models import (  # noqa: E402
    expected_text_embeddings,
    projection,
    tensor_model,
    text_model,
)

TEXTS = ["the cat sat on the mat", "a dog", "the dog ran far far away", "cat", "mat on the cat"]


@pytest.fixture(autouse=True)
def fresh_sessions():
    onnx_sessions.clear()
    yield
    onnx_sessions.clear()


@pytest.fixture
def tiny_text(tmp_path: Path) -> Path:
    return text_model(tmp_path / "tiny-text", {"pooling": "mean", "normalize": True, "max_length": 64})


class CountingSession:
    """Wraps a session to count model runs and the batch sizes they got."""

    def __init__(self, session):
        self.session = session
        self.batches: list[int] = []

    def run(self, outputs, feeds):
        self.batches.append(len(next(iter(feeds.values()))))
        return self.session.run(outputs, feeds)


def count_runs(encoder: OnnxEncoder) -> CountingSession:
    counting = CountingSession(encoder.model.session)
    object.__setattr__(encoder.model, "session", counting)
    return counting


def test_text_mode_mean_pools_over_the_mask_and_normalizes(tiny_text: Path):
    encoder = OnnxEncoder(model=str(tiny_text))
    docs = DocumentArray(Document(text=t) for t in TEXTS)
    encoder.encode(docs, {})
    # one batch pads the short texts: padding must not change their embeddings
    np.testing.assert_allclose(docs.embeddings, expected_text_embeddings(TEXTS), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(docs.embeddings, axis=1), 1.0, rtol=1e-6)
    assert docs.embeddings.dtype == np.float32


def test_options_override_the_manifest(tiny_text: Path):
    raw = OnnxEncoder(model=str(tiny_text), normalize=False)
    np.testing.assert_allclose(raw.embed_texts(TEXTS), expected_text_embeddings(TEXTS, normalize=False), atol=1e-6)
    cls = OnnxEncoder(model=str(tiny_text), pooling="cls", normalize=False)
    np.testing.assert_allclose(cls.embed_texts(TEXTS), expected_text_embeddings(TEXTS, False, pooling="cls"))
    short = OnnxEncoder(model=str(tiny_text), max_length=4)  # [CLS] + 2 words + [SEP]
    np.testing.assert_allclose(short.embed_texts(TEXTS), expected_text_embeddings(TEXTS, max_length=4), atol=1e-6)


def test_batches_of_batch_size_with_a_per_request_override(tiny_text: Path):
    encoder = OnnxEncoder(model=str(tiny_text), batch_size=2)
    runs = count_runs(encoder)
    docs = DocumentArray(Document(text=t) for t in TEXTS)
    encoder.encode(docs, {})
    assert runs.batches == [2, 2, 1]
    np.testing.assert_allclose(docs.embeddings, expected_text_embeddings(TEXTS), atol=1e-6)
    encoder.encode(DocumentArray(Document(text=t) for t in TEXTS), {"batch_size": 5})
    assert runs.batches[3:] == [5]


def test_docs_without_text_are_left_as_they_are(tiny_text: Path):
    encoder = OnnxEncoder(model=str(tiny_text))
    docs = DocumentArray([Document(id="a", text="the cat"), Document(id="b"), Document(id="c", text="")])
    encoder.encode(docs, {})
    assert docs["b"].embedding is None
    np.testing.assert_allclose(docs["a"].embedding, expected_text_embeddings(["the cat"])[0], atol=1e-6)
    np.testing.assert_allclose(docs["c"].embedding, expected_text_embeddings([""])[0], atol=1e-6)
    encoder.encode(DocumentArray(), {})  # nothing to do is fine


def test_a_model_without_token_type_ids_gets_only_what_it_takes(tmp_path: Path):
    folder = text_model(tmp_path / "no-types", {"normalize": True}, with_type_ids=False)
    encoder = OnnxEncoder(model=str(folder))
    np.testing.assert_allclose(encoder.embed_texts(TEXTS), expected_text_embeddings(TEXTS), atol=1e-6)


def test_tensor_mode_batches_same_shapes_and_casts_to_the_input_type(tmp_path: Path):
    encoder = OnnxEncoder(model=str(tensor_model(tmp_path / "proj.onnx")), mode="tensor", batch_size=2)
    runs = count_runs(encoder)
    rng = np.random.default_rng(0)
    tensors = [rng.standard_normal(4) for _ in range(5)]  # float64: cast to the model's float32
    docs = DocumentArray([Document(id=str(i), tensor=t) for i, t in enumerate(tensors)] + [Document(id="none")])
    encoder.encode(docs, {})
    np.testing.assert_allclose(np.stack([docs[str(i)].embedding for i in range(5)]),
                               np.stack(tensors).astype(np.float32) @ projection(), rtol=1e-5)
    assert docs["none"].embedding is None and runs.batches == [2, 2, 1]
    assert encoder.status()["mode"] == "tensor"


def test_tensor_mode_pools_sequences_of_different_lengths(tmp_path: Path):
    path = tensor_model(tmp_path / "seq.onnx", sequence=True)
    encoder = OnnxEncoder(model=str(path), mode="tensor", normalize=True)
    runs = count_runs(encoder)
    rng = np.random.default_rng(1)
    tensors = [rng.standard_normal((n, 4)).astype(np.float32) for n in (2, 5, 2, 5, 3)]
    rows = encoder.embed_tensors(tensors)
    expected = np.stack([(t @ projection()).mean(axis=0) for t in tensors])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(rows, expected, rtol=1e-5, atol=1e-6)
    assert sorted(runs.batches) == [1, 2, 2]  # one run per shape


def test_one_session_per_process_shared_by_shards(tiny_text: Path):
    flow = Flow().add(uses=OnnxEncoder, uses_with={"model": str(tiny_text)}, name="encoder", shards=3)
    with flow:
        shards = flow._engine.instances["encoder"]
        assert len({id(s.model.session) for s in shards}) == 1
        out = flow.post("/anything", [Document(text=t) for t in TEXTS])
    np.testing.assert_allclose(out.embeddings, expected_text_embeddings(TEXTS), atol=1e-6)


def test_status_reports_the_provider_over_http(tiny_text: Path):
    import httpx

    flow = Flow(protocol="http", port=0).add(uses=OnnxEncoder, uses_with={"model": str(tiny_text)}, name="enc")
    with flow:
        status = httpx.get(f"{flow._server.url}/status").json()
    (executor,) = status["executors"]
    assert executor["runtime"] == [
        {"model": "tiny-text", "device": "auto", "provider": CPU, "mode": "text",
         "load_seconds": executor["runtime"][0]["load_seconds"]}
    ]


def test_provider_choice():
    assert choose_providers("cpu", [CUDA, CPU]) == [CPU]
    assert choose_providers("auto", [CUDA, CPU]) == [CUDA, CPU]
    assert choose_providers("auto", [CPU]) == [CPU]
    assert choose_providers("cuda", [CUDA, CPU]) == [CUDA, CPU]
    with pytest.raises(ProviderUnavailableError, match="device='cuda' was required.*no CUDAExecutionProvider"):
        choose_providers("cuda", ["AzureExecutionProvider", CPU])
    with pytest.raises(ValueError, match="device must be one of"):
        choose_providers("gpu", [CPU])


def test_cuda_required_but_absent_is_a_clear_error(tiny_text: Path):
    with pytest.raises(ProviderUnavailableError, match="device='cuda' was required"):
        OnnxEncoder(model=str(tiny_text), device="cuda")


def test_cuda_offered_but_not_starting_is_never_a_silent_fallback(tiny_text: Path, monkeypatch, caplog):
    """onnxruntime itself would run on the CPU with only a warning: required, it is an error;
    with device='auto' the CPU is used and said so."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):  # onnxruntime's own, CPU-only build
        with pytest.raises(ProviderUnavailableError, match="did not start.*runs on CPUExecutionProvider"):
            OnnxEncoder(model=str(tiny_text), device="cuda")
    with caplog.at_level(logging.WARNING, logger="faasflow.onnx"), pytest.warns(UserWarning):
        encoder = OnnxEncoder(model=str(tiny_text), device="auto")
    assert encoder.status()["provider"] == CPU
    assert "did not start" in caplog.text


def test_the_device_default_comes_from_the_environment(tiny_text: Path, monkeypatch):
    monkeypatch.setenv("FAASFLOW_ONNX_DEVICE", "cuda")
    with pytest.raises(ProviderUnavailableError):
        OnnxEncoder(model=str(tiny_text))
    assert OnnxEncoder(model=str(tiny_text), device="cpu").status()["device"] == "cpu"


def test_configuration_errors_name_the_problem(tiny_text: Path, tmp_path: Path):
    with pytest.raises(ModelNotFoundError, match="no ONNX model 'nope'"):
        OnnxEncoder(model="nope")
    with pytest.raises(ValueError, match="mode must be one of"):
        OnnxEncoder(model=str(tiny_text), mode="audio")
    with pytest.raises(ValueError, match="pooling must be one of"):
        OnnxEncoder(model=str(tiny_text), pooling="max")
    with pytest.raises(ValueError, match="needs a tokenizer.json"):
        OnnxEncoder(model=str(tensor_model(tmp_path / "t" / "model.onnx")))
    with pytest.raises(ValueError, match="has no output 'nope'"):
        OnnxEncoder(model=str(tiny_text), output_name="nope")
    with pytest.raises(TypeError, match="unexpected argument"):
        OnnxEncoder(model=str(tiny_text), colour="blue")


def test_model_names_resolve_through_the_cache_dir(tiny_text: Path, monkeypatch):
    monkeypatch.setenv("FAASFLOW_MODEL_DIR", str(tiny_text.parent))
    files = resolve_model("tiny-text")
    assert files.folder == tiny_text and files.tokenizer is not None and files.manifest["max_length"] == 64


def test_importing_faasflow_and_the_executors_package_loads_no_onnxruntime():
    code = ("import sys, faasflow, faasflow.executors, faasflow.executors.onnx_encoder; "
            "print('onnxruntime' in sys.modules, 'tokenizers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
