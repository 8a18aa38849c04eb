"""The sharded search example: the reference app's Flow over the generated corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from examples.common import load_corpus
from examples.sharded_search.__main__ import FLOW_YAML
from examples.sharded_search.corpus import sentences, write_corpus
from faasflow import Document, Flow
from tests.support.results import per_shard

ROOT = Path(__file__).resolve().parents[2]


def test_corpus_is_deterministic_and_distinct(tmp_path: Path):
    first = list(sentences(10_000))
    assert len(set(first)) == 10_000
    assert first == list(sentences(10_000))
    path = write_corpus(tmp_path / "c.txt", 10_000)
    assert len(path.read_text().splitlines()) == 10_000


def test_indexed_lines_come_back_first_with_score_zero(tmp_path: Path):
    corpus = load_corpus(write_corpus(tmp_path / "corpus.txt", 3_000))
    flow = Flow.load_config(FLOW_YAML)
    flow.workspace = str(tmp_path / "ws")
    with flow:
        flow.post("/index", corpus, request_size=100)
        counts = per_shard(flow.post("/count", return_responses=True)[0].parameters["__results__"], "db")
        assert sum(c["count"] for c in counts) == 3_000 and all(c["count"] > 0 for c in counts)
        for position in (0, 1234, 2999):
            answer = flow.post("/query", Document(text=corpus[position].text))
            assert answer[0].id == corpus[position].id
            assert answer[0].scores["jaccard"].value == 0.0
            values = [d.scores["jaccard"].value for d in answer]
            assert values == sorted(values) and len(answer) == 9  # top 3 from each of 3 shards
        limited = flow.post("/query", Document(text=corpus[5].text), parameters={"limit": 2})
        assert len(limited) == 2


def test_index_survives_a_restart_and_reindexing_updates(tmp_path: Path):
    corpus = load_corpus(write_corpus(tmp_path / "corpus.txt", 500))
    for _ in range(2):
        flow = Flow.load_config(FLOW_YAML)
        flow.workspace = str(tmp_path / "ws")
        with flow:
            flow.post("/index", corpus)
            counts = per_shard(flow.post("/count", return_responses=True)[0].parameters["__results__"], "db")
            assert sum(c["count"] for c in counts) == 500


def test_demo_runs_end_to_end(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "examples.sharded_search", "--docs", "10000", "--workspace", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "indexed 10,000 docs" in result.stdout
    assert "line-1 " in result.stdout and "0.000" in result.stdout
