"""Embedding drift: each VectorIndexer shard's centroid, kept exactly across deletes,
restarts, compaction and concurrent writers, and each query batch's similarity to it, as
EMF metrics in Lambda, Prometheus gauges of a served Flow, and the executor's status."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from faasflow import Client, Document, DocumentArray, Flow
from faasflow.embedded import EmbeddedBackend
from faasflow.errors import BadRequest
from faasflow.executors.drift import (
    DRIFT_NAMESPACE,
    INDEX_SIMILARITY_METRIC,
    NOT_YET,
    QUERY_SIMILARITY_METRIC,
    SIMILARITY_RATIO_METRIC,
    DriftMonitor,
)
from faasflow.executors.vector_indexer import VectorIndexer
from faasflow.index import segment as segment_file
from faasflow.index.shard import ShardIndex
from faasflow.index.stats import EmbeddingStats, NoCentroid, mean_cosine
from faasflow.runtime.handler import ShardRuntime
from faasflow.runtime.payload import encode_docs
from faasflow.serve import start_background_server
from faasflow.storage.local import LocalStorage

DIM = 24
POLLING = {"/search": "ALL", "/query": "ALL", "/count": "ALL", "*": "ANY"}


def cloud(count: int, seed: int, offset: float = 1.5) -> np.ndarray:
    """Vectors around a common direction: a centroid with a clear direction, like embeddings."""
    rng = np.random.default_rng(seed)
    centre = np.full(DIM, offset / np.sqrt(DIM))
    return (rng.standard_normal((count, DIM)) * 0.6 + centre).astype(np.float32)


def elsewhere(count: int, seed: int) -> np.ndarray:
    """Queries from another distribution: around the opposite direction."""
    return -cloud(count, seed)


def docs_of(matrix: np.ndarray, prefix: str = "d", start: int = 0) -> DocumentArray:
    return DocumentArray(Document(id=f"{prefix}{start + i}", embedding=row) for i, row in enumerate(matrix))


def expected(vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """numpy's centroid and mean cosine of the (non-zero) vectors to it."""
    rows = np.asarray(vectors, dtype=np.float64)
    centroid = rows.mean(axis=0)
    norms = np.linalg.norm(rows, axis=1)
    keep = norms > 0
    return centroid, float(np.mean(rows[keep] @ centroid / norms[keep] / np.linalg.norm(centroid)))


def query_value(queries: np.ndarray, vectors: np.ndarray) -> float:
    centroid, _ = expected(vectors)
    q = np.asarray(queries, dtype=np.float64)
    return float(np.mean(q @ centroid / np.linalg.norm(q, axis=1) / np.linalg.norm(centroid)))


def assert_stats(stats: EmbeddingStats, vectors: np.ndarray) -> None:
    centroid, similarity = expected(vectors)
    assert stats.count == len(vectors)
    assert np.allclose(stats.centroid(), centroid, rtol=1e-9, atol=1e-9)
    assert stats.similarity() == pytest.approx(similarity, abs=1e-9)


def make_indexer(tmp_path: Path, **runtime: Any) -> VectorIndexer:
    return VectorIndexer(workspace=str(tmp_path), runtime_args={"name": "idx", **runtime})


# --- the sums: exact against numpy ---


def test_centroid_and_index_similarity_follow_upserts_deletes_updates_and_a_restart(tmp_path: Path):
    data = cloud(400, seed=1)
    indexer = make_indexer(tmp_path)
    indexer.index(docs_of(data[:300]))
    indexer.index(docs_of(data[300:], start=300))
    live = {f"d{i}": data[i] for i in range(400)}
    assert_stats(indexer.shard_index.stats(), np.stack(list(live.values())))

    indexer.delete(DocumentArray([Document(id=f"d{i}") for i in range(0, 400, 3)]))
    for i in range(0, 400, 3):
        del live[f"d{i}"]
    replaced = cloud(20, seed=2) * 3
    indexer.update(DocumentArray(Document(id=f"d{i}", embedding=v) for i, v in zip(range(1, 60, 3), replaced)))
    for i, v in zip(range(1, 60, 3), replaced):
        live[f"d{i}"] = v
    indexer.index(docs_of(cloud(5, seed=3), start=1000))  # new ids, on top
    for i, v in enumerate(cloud(5, seed=3)):
        live[f"d{1000 + i}"] = v
    vectors = np.stack(list(live.values()))
    assert indexer.count() == {"count": len(live)}
    assert_stats(indexer.shard_index.stats(), vectors)

    restarted = make_indexer(tmp_path)  # a cold start: a new process reads the shard back
    assert_stats(restarted.shard_index.stats(), vectors)
    restarted.shard_index.compact(full=True)
    assert len(restarted.shard_index.log.manifest().segments) == 1
    assert_stats(make_indexer(tmp_path).shard_index.stats(), vectors)


def test_a_warm_view_carries_its_sums_forward_exactly(tmp_path: Path):
    """A warm shard extends its view by new segments only; its sums must equal a cold build."""
    data = cloud(120, seed=4)
    shard = ShardIndex(LocalStorage(str(tmp_path)), max_segments=1000, merge_factor=1000)
    ids = [f"d{i}" for i in range(120)]
    shard.upsert(ids[:60], data[:60], [b"{}"] * 60)
    assert_stats(shard.stats(), data[:60])  # computed once, then carried forward
    shard.upsert(ids[30:120], data[30:120] * 2, [b"{}"] * 90)  # replaces 30 rows, adds 60
    shard.delete(ids[:10])
    vectors = np.concatenate([data[10:30], data[30:120] * 2])
    assert_stats(shard.stats(), vectors)
    assert_stats(ShardIndex(LocalStorage(str(tmp_path))).stats(), vectors)


def test_concurrent_writers_segments_add_up(tmp_path: Path):
    """Two processes' writers publish their own segments to one shard; either reads the union."""
    storage = str(tmp_path)
    first, second = ShardIndex(LocalStorage(storage)), ShardIndex(LocalStorage(storage))
    a, b = cloud(50, seed=5), cloud(70, seed=6) + 0.5
    first.upsert([f"a{i}" for i in range(50)], a, [b"{}"] * 50)
    second.upsert([f"b{i}" for i in range(70)], b, [b"{}"] * 70)
    first.upsert([f"b{i}" for i in range(10)], a[:10], [b"{}"] * 10)  # overwrites the other writer's rows
    second.delete([f"a{i}" for i in range(5)])
    vectors = np.concatenate([a[5:], b[10:], a[:10]])
    for shard in (first, second, ShardIndex(LocalStorage(storage))):
        assert_stats(shard.stats(), vectors)


def test_segments_record_their_sums_and_old_segments_get_them_from_their_vectors(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch):
    data = cloud(40, seed=7)
    encoded = segment_file.encode([f"d{i}" for i in range(40)], data, [b"{}"] * 40)
    header = segment_file._parse_header("k", encoded)
    assert header["stats"]["count"] == 40  # in the header, not a section: older readers still read it
    assert set(header["sections"]) == {"ids", "embeddings", "doc_offsets", "docs", "tags", "deleted"}
    assert_stats(segment_file.decode("k", encoded).stats, data)

    monkeypatch.setattr(segment_file, "STATS_MAX_DIM", 0)  # write as a version without the sums did
    old = ShardIndex(LocalStorage(str(tmp_path)))
    old.upsert([f"d{i}" for i in range(40)], data, [b"{}"] * 40)
    old.delete(["d0"])
    monkeypatch.undo()
    key = ShardIndex(LocalStorage(str(tmp_path))).log.manifest().segments[0]
    stored = LocalStorage(str(tmp_path)).get(key)
    assert stored is not None and segment_file._parse_header(key, stored).get("stats") is None
    assert_stats(ShardIndex(LocalStorage(str(tmp_path))).stats(), data[1:])


# --- query batches ---


def test_queries_like_the_data_score_like_the_index_and_others_clearly_lower(tmp_path: Path):
    data = cloud(500, seed=8)
    indexer = make_indexer(tmp_path)
    indexer.index(docs_of(data))
    near = cloud(64, seed=9)
    indexer.search(docs_of(near, "q"), {"limit": 3})
    report = indexer.status()
    _, index_value = expected(data)
    assert report["index_similarity"] == pytest.approx(index_value, abs=1e-6)
    assert report["query_similarity"] == pytest.approx(query_value(near, data), abs=1e-6)
    assert report["query_similarity"] == pytest.approx(index_value, abs=0.1)
    assert report["query_batches"] == 1 and "drift_note" not in report

    far = elsewhere(64, seed=10)
    for _ in range(3):
        indexer.search(docs_of(far, "q"), {"limit": 3})
    report = indexer.status()
    far_value = query_value(far, data)
    assert far_value < index_value - 0.5
    # the recent value: the plain mean of the measured batches (fewer than RECENT_BATCHES here)
    assert report["query_similarity"] == pytest.approx((query_value(near, data) + 3 * far_value) / 4, abs=1e-6)
    assert report["query_batches"] == 4


def test_the_recent_value_is_the_mean_of_the_last_batches():
    monitor = DriftMonitor("idx", 0, recent=3, emit=False)
    stats = EmbeddingStats.of(cloud(50, seed=11))
    values = [monitor.observe(q, stats) for q in (cloud(8, 12), elsewhere(8, 13), cloud(8, 14), elsewhere(8, 15))]
    assert all(v is not None for v in values)
    reading = monitor.reading()
    assert reading.query_batches == 4
    assert reading.query_similarity == pytest.approx(np.mean([v[0] for v in values[1:] if v]), abs=1e-12)


def test_sharded_flow_measures_each_shard_against_its_own_centroid(tmp_path: Path):
    data = cloud(300, seed=16)
    flow = Flow(workspace=str(tmp_path)).add(uses=VectorIndexer, name="idx", shards=2, polling=POLLING)
    with flow:
        flow.post("/index", docs_of(data))
        flow.post("/search", docs_of(cloud(16, seed=17), "q"))
        shards = flow._engine.instances["idx"]
        for shard in shards:
            held = np.stack([seg.embedding(row) for seg in shard.shard_index.view().segments
                             for row in range(seg.rows)])
            assert shard.status()["index_similarity"] == pytest.approx(expected(held)[1], abs=1e-6)
            assert shard.drift.executor == "idx"
        assert [s.drift.shard for s in shards] == [0, 1]


# --- nothing undefined is ever emitted ---


def test_zero_vectors_an_empty_shard_and_cancelling_embeddings_emit_nothing_and_say_why(tmp_path: Path):
    empty = make_indexer(tmp_path / "empty")
    assert empty.status() == {}  # nothing before a search: a status check loads no shard
    empty.search(docs_of(cloud(4, seed=18), "q"))
    report = empty.status()
    assert report == {"index_similarity": None, "query_similarity": None, "query_batches": 0,
                      "drift_note": "the shard is empty: it has no centroid"}

    zeros = make_indexer(tmp_path / "zeros")
    zeros.index(docs_of(np.zeros((5, DIM), np.float32)))
    zeros.search(docs_of(cloud(3, seed=19), "q"))
    assert "zero vector" in zeros.status()["drift_note"] and zeros.status()["query_batches"] == 0

    opposite = make_indexer(tmp_path / "cancel")
    base = cloud(6, seed=20)
    opposite.index(docs_of(np.concatenate([base, -base])))
    opposite.search(docs_of(cloud(3, seed=21), "q"))
    assert "cancel out" in opposite.status()["drift_note"]

    fine = make_indexer(tmp_path / "fine")
    fine.index(docs_of(cloud(30, seed=22)))
    fine.search(docs_of(np.zeros((3, DIM), np.float32), "q"))  # a batch of zero queries
    report = fine.status()
    assert report["query_similarity"] is None and report["query_batches"] == 0
    assert "only zero vectors" in report["drift_note"]
    assert report["index_similarity"] is not None and np.isfinite(report["index_similarity"])
    fine.delete(docs_of(np.zeros((30, DIM), np.float32)))  # every doc: the shard is empty again
    fine.search(docs_of(cloud(3, seed=22), "q"))
    assert fine.status() == {"index_similarity": None, "query_similarity": None, "query_batches": 0,
                             "drift_note": "the shard is empty: it has no centroid"}
    assert fine.drift.reading().index_similarity is None  # what the gauges read: no stale figure either


def test_nan_is_refused_before_it_is_measured_and_stored_nan_yields_no_centroid(tmp_path: Path):
    indexer = make_indexer(tmp_path)
    indexer.index(docs_of(cloud(10, seed=23)))
    bad = cloud(2, seed=24)
    bad[1, 3] = np.nan
    with pytest.raises(BadRequest):
        indexer.search(docs_of(bad, "q"))
    assert indexer.status() == {} and indexer.drift.reading().query_batches == 0

    raw = ShardIndex(LocalStorage(str(tmp_path / "raw")))  # below the executor's checks
    raw.upsert(["a", "b"], bad, [b"{}", b"{}"])
    with pytest.raises(NoCentroid, match="NaN"):
        raw.stats().similarity()
    monitor = DriftMonitor("idx", 0, emit=False)
    assert monitor.observe(cloud(3, seed=25), raw.stats()) is None
    reading = monitor.reading()
    assert reading.query_similarity is None and reading.index_similarity is None and "NaN" in (reading.note or "")
    with pytest.raises(NoCentroid):
        mean_cosine(bad, np.ones(DIM) / np.sqrt(DIM))
    assert DriftMonitor("idx", 0, emit=False).reading().note == NOT_YET


# --- EMF through the Lambda handler ---


def hop(endpoint: str, docs: DocumentArray) -> dict[str, Any]:
    return {
        "request": {"endpoint": endpoint, "parameters": {}, "request_id": f"req-{endpoint.strip('/')}"},
        "input": json.dumps({"stage": "gateway", "mode": "single"}),
        "values": {"gateway": {"value": {"docs": encode_docs(docs, "g", 1_000_000)}}},
        "mode": "single",
        "inline_limit": 1_000_000,
    }


def emf_records(out: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r for r in records if "_aws" in r]


def test_a_lambda_shard_emits_both_similarities_in_one_emf_record(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "flow-idx-1")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "drift-demo")
    shard = ShardRuntime.from_environment({
        "FAASFLOW_EXECUTOR": "vectors", "FAASFLOW_USES": "faasflow.executors.VectorIndexer",
        "FAASFLOW_SHARD": "1", "FAASFLOW_SHARDS": "2", "FAASFLOW_WORKSPACE": str(tmp_path),
    })
    data, queries = cloud(200, seed=26), cloud(10, seed=27)
    assert "error" not in shard.handle(hop("/index", docs_of(data)))
    assert "error" not in shard.handle(hop("/search", docs_of(queries, "q")))
    assert "error" not in shard.handle(hop("/search", docs_of(np.zeros((2, DIM), np.float32), "z")))
    drift = [r for r in emf_records(capsys.readouterr().out) if QUERY_SIMILARITY_METRIC in r]
    assert len(drift) == 1, "one record per measured batch; the zero batch emits nothing"
    (record,) = drift
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == DRIFT_NAMESPACE == "faasflow"
    assert [sorted(d) for d in directive["Dimensions"]] == [["executor", "service", "shard"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        QUERY_SIMILARITY_METRIC: "None", INDEX_SIMILARITY_METRIC: "None", SIMILARITY_RATIO_METRIC: "None"}
    assert (record["service"], record["executor"], record["shard"]) == ("drift-demo", "vectors", "1")
    value = lambda v: v[0] if isinstance(v, list) else v  # noqa: E731
    assert value(record[QUERY_SIMILARITY_METRIC]) == pytest.approx(query_value(queries, data), abs=1e-6)
    assert value(record[INDEX_SIMILARITY_METRIC]) == pytest.approx(expected(data)[1], abs=1e-6)
    assert value(record[SIMILARITY_RATIO_METRIC]) == pytest.approx(
        value(record[QUERY_SIMILARITY_METRIC]) / value(record[INDEX_SIMILARITY_METRIC]), rel=1e-9)
    report = shard.status()  # what the gateway's /status?runtime=true gets from this function
    assert report["shard"] == 1 and report["query_batches"] == 1
    assert "only zero vectors" in report["drift_note"]


def test_no_emf_outside_lambda(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    indexer = make_indexer(tmp_path)
    indexer.index(docs_of(cloud(20, seed=28)))
    indexer.search(docs_of(cloud(4, seed=29), "q"))
    assert indexer.status()["query_batches"] == 1
    assert not emf_records(capsys.readouterr().out)


# --- Prometheus gauges of a served Flow ---


@contextmanager
def served(flow: Flow) -> Iterator[str]:
    server = start_background_server(EmbeddedBackend(flow), port=0)
    try:
        yield server.url
    finally:
        server.stop()


def samples(text: str, name: str) -> dict[tuple[str, str], float]:
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf'{name}\{{executor="([^"]+)",shard="(\d+)"\}} (\S+)', line)
        if match:
            found[(match[1], match[2])] = float(match[3])
    return found


def test_served_flow_shows_the_drift_gauges_at_metrics(tmp_path: Path):
    data = cloud(240, seed=30)
    flow = Flow(name="drift", workspace=str(tmp_path)).add(uses=VectorIndexer, name="idx", shards=2, polling=POLLING)
    with flow, served(flow) as url, Client(url) as client, httpx.Client(base_url=url, trust_env=False) as http:
        before = http.get("/metrics").text
        assert samples(before, "faasflow_embedding_query_similarity") == {}
        assert samples(before, "faasflow_embedding_query_batches_total") == {("idx", "0"): 0, ("idx", "1"): 0}
        client.post("/index", list(docs_of(data)))
        client.post("/search", list(docs_of(cloud(12, seed=31), "q")))
        text = http.get("/metrics").text
        status = http.get("/status", params={"runtime": "true"}).json()
    reports = next(e for e in status["executors"] if e["name"] == "idx")["runtime"]
    query = samples(text, "faasflow_embedding_query_similarity")
    index = samples(text, "faasflow_embedding_index_similarity")
    assert set(query) == set(index) == {("idx", "0"), ("idx", "1")}
    for shard, report in enumerate(reports):
        assert query[("idx", str(shard))] == pytest.approx(report["query_similarity"], abs=1e-5)
        assert index[("idx", str(shard))] == pytest.approx(report["index_similarity"], abs=1e-5)
        assert 0 < report["query_similarity"] <= 1
    assert samples(text, "faasflow_embedding_query_batches_total") == {("idx", "0"): 1, ("idx", "1"): 1}
