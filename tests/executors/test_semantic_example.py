"""The semantic variant of the example: encoder -> sharded VectorIndexer -> ranker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from examples.common import load_corpus  # noqa: E402
from examples.semantic_search.__main__ import FLOW_YAML  # noqa: E402
from examples.sharded_search.corpus import write_corpus  # noqa: E402
from faasflow import Document, Flow  # noqa: E402
from faasflow.executors.model_files import ModelNotFoundError, resolve_model  # noqa: E402
from tests.support.results import per_shard

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def minilm() -> None:
    try:
        resolve_model("all-MiniLM-L6-v2")
    except ModelNotFoundError as exc:
        pytest.skip(f"{exc} (make model exports it)")


def test_indexed_lines_come_back_first_and_paraphrases_find_their_line(tmp_path: Path):
    corpus = load_corpus(write_corpus(tmp_path / "c.txt", 400))
    flow = Flow.load_config(FLOW_YAML)
    flow.workspace = str(tmp_path / "ws")
    with flow:
        flow.post("/index", corpus, request_size=100)
        counts = per_shard(flow.post("/count", return_responses=True)[0].parameters["__results__"], "index")
        assert sum(c["count"] for c in counts) == 400 and all(c["count"] > 0 for c in counts)
        for position in (0, 123, 399):
            answer = flow.post("/search", Document(text=corpus[position].text), parameters={"limit": 5})
            matches = answer[0].matches
            assert len(matches) == 5 and matches[0].id == corpus[position].id
            assert matches[0].scores["cosine"].value == pytest.approx(0, abs=1e-5)
            values = [m.scores["cosine"].value for m in matches]
            assert values == sorted(values)


def test_semantic_demo_runs(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "examples.semantic_search", "--docs", "300", "--workspace", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "encoded and indexed 300 docs" in result.stdout and "cosine distance" in result.stdout
