"""VectorIndexer: its endpoints, alone and sharded behind the local engine's merge."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faasflow import Document, DocumentArray, Flow, FlowError
from faasflow.executors.vector_indexer import VectorIndexer
from tests.support.results import per_shard

POLLING = {"/search": "ALL", "/query": "ALL", "/count": "ALL", "*": "ANY"}
ROOT = Path(__file__).resolve().parents[2]


def corpus(count: int = 600, dim: int = 16, seed: int = 0) -> DocumentArray:
    rng = np.random.default_rng(seed)
    return DocumentArray(
        Document(id=f"d{i}", text=f"doc {i}", tags={"lang": "en" if i % 3 else "de", "n": i},
                 embedding=rng.standard_normal(dim).astype(np.float32))
        for i in range(count)
    )


def counts(flow: Flow) -> list[int]:
    results = flow.post("/count", return_responses=True)[0].parameters["__results__"]
    return [c["count"] for c in per_shard(results, "idx")]


@pytest.fixture
def indexer(tmp_path: Path) -> VectorIndexer:
    return VectorIndexer(metric="cosine", workspace=str(tmp_path), runtime_args={"name": "idx"})


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_sharded_search_equals_one_exact_search(tmp_path: Path, metric: str):
    docs = corpus()
    flow = Flow(workspace=str(tmp_path)).add(
        uses="faasflow.executors.VectorIndexer", name="idx", shards=3, uses_with={"metric": metric}, polling=POLLING
    )
    queries = DocumentArray(Document(id=f"q{i}", embedding=docs[i * 50].embedding) for i in range(4))
    with flow:
        flow.post("/index", docs, request_size=50)
        assert sum(counts(flow)) == 600 and min(counts(flow)) > 0
        answer = flow.post("/search", queries, parameters={"limit": 7})
    expected = docs.find(queries, metric=metric, limit=7)
    for query, want in zip(answer, expected):
        assert query.matches.ids == want.ids  # merged across shards, sorted the metric's way, cut
        got = [m.scores[metric].value for m in query.matches]
        # euclidean via |a|^2 + |b|^2 - 2ab in float32 leaves up to ~1e-3 under the square root of a
        # self-match's zero, depending on the BLAS kernel; the ids above are exact either way
        tolerance = 5e-3 if metric == "euclidean" else 1e-4
        assert got == pytest.approx([d.scores[metric].value for d in want], rel=1e-4, abs=tolerance)
        if metric == "dot":
            assert got == sorted(got, reverse=True)
    if metric != "dot":  # a distance: each query finds its own document first
        assert [q.matches[0].id for q in answer] == [f"d{i * 50}" for i in range(4)]


def test_endpoints_upsert_delete_update_count(indexer: VectorIndexer):
    docs = corpus(20)
    indexer.index(docs)
    indexer.index(DocumentArray([Document(id="d1", text="new", embedding=docs[1].embedding)]))  # newest wins
    assert indexer.count() == {"count": 20}
    query = DocumentArray([Document(embedding=docs[1].embedding)])
    indexer.search(query, {"limit": 3})
    assert query[0].matches[0].id == "d1" and query[0].matches[0].text == "new"
    assert query[0].matches[0].embedding is None  # answers stay small by default
    indexer.delete(DocumentArray([Document(id="d1"), Document(id="nope")]))
    assert indexer.count() == {"count": 19}
    indexer.update(DocumentArray([Document(id="d1", embedding=docs[1].embedding),  # deleted: ignored
                                  Document(id="d2", text="updated", embedding=docs[1].embedding)]))
    assert indexer.count() == {"count": 19}
    indexer.search(query, {})
    assert query[0].matches[0].id == "d2" and query[0].matches[0].text == "updated"
    assert query[0].matches[0].tags == {}  # replaced whole: the update had no tags


def test_filter_limit_metric_and_embeddings(tmp_path: Path):
    docs = corpus(60)
    indexer = VectorIndexer(metric="dot", return_embeddings=True, workspace=str(tmp_path))
    indexer.index(docs)
    query = DocumentArray([Document(embedding=docs[3].embedding)])
    indexer.search(query, {"limit": 100, "filter": {"lang": "de"}})
    assert sorted(m.id for m in query[0].matches) == sorted(d.id for d in docs if d.tags["lang"] == "de")
    assert all(m.tags["lang"] == "de" for m in query[0].matches)
    indexer.search(query, {"limit": 2, "metric": "euclidean"})
    match = query[0].matches[0]
    assert match.id == "d3" and match.scores["euclidean"].value == pytest.approx(0, abs=1e-3)
    assert np.array_equal(match.embedding, docs[3].embedding)


def test_state_survives_a_restart_and_is_shared_by_instances(tmp_path: Path):
    docs = corpus(100)
    first = VectorIndexer(workspace=str(tmp_path), runtime_args={"name": "idx", "shard_id": 1})
    second = VectorIndexer(workspace=str(tmp_path), runtime_args={"name": "idx", "shard_id": 1})
    first.index(docs[:60])
    assert second.count() == {"count": 60}
    second.index(docs[60:])
    assert first.count() == {"count": 100}
    again = VectorIndexer(workspace=str(tmp_path), runtime_args={"name": "idx", "shard_id": 1})
    query = DocumentArray([Document(embedding=docs[77].embedding)])
    again.search(query, {"limit": 1})
    assert query[0].matches.ids == ["d77"]


def test_many_small_writes_are_compacted(tmp_path: Path):
    indexer = VectorIndexer(max_segments=4, merge_factor=3, workspace=str(tmp_path))
    docs = corpus(120)
    for start in range(0, 120, 4):
        indexer.index(docs[start : start + 4])
        indexer.delete(DocumentArray([Document(id=f"d{start}")]))
    assert indexer.count() == {"count": 90}
    assert len(indexer.shard_index.log.manifest().segments) <= 4
    assert indexer.shard_index.compact(full=True)
    assert len(indexer.shard_index.log.manifest().segments) == 1 and indexer.count() == {"count": 90}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ix: ix.index(DocumentArray([Document(id="x")])), "cannot index document 'x': it has no embedding"),
        (lambda ix: ix.search(DocumentArray([Document(id="q")]), {}), "cannot search with document 'q'"),
        (lambda ix: ix.search(DocumentArray([Document(embedding=[1.0])]), {"limit": "many"}), "limit"),
        (lambda ix: ix.search(DocumentArray([Document(embedding=[1.0])]), {"limit": -1}), "limit"),
        (lambda ix: ix.search(DocumentArray([Document(embedding=[1.0])]), {"filter": ["lang"]}), "filter"),
        (lambda ix: ix.search(DocumentArray([Document(embedding=[1.0])]), {"metric": "l7"}), "unknown metric"),
    ],
)
def test_bad_requests_are_clear_errors(indexer: VectorIndexer, call, message: str):
    with pytest.raises(ValueError, match=message):
        call(indexer)


def test_errors_in_a_flow_name_the_executor(tmp_path: Path):
    flow = Flow(workspace=str(tmp_path)).add(uses=VectorIndexer, name="idx", shards=2, polling=POLLING)
    with flow, pytest.raises(FlowError, match="idx"):
        flow.post("/search", Document(embedding=np.ones(4, np.float32)), parameters={"limit": "many"})
    with pytest.raises(ValueError, match="unknown metric"):
        VectorIndexer(metric="hamming", workspace=str(tmp_path))


def test_importing_the_executors_package_imports_no_executor():
    code = (
        "import sys, faasflow.executors as e; "
        "assert not [m for m in sys.modules if m.startswith('faasflow.executors.')], sys.modules; "
        "assert e.VectorIndexer.__name__ == 'VectorIndexer'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
