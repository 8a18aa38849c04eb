"""VectorIndexer over IVF-indexed shards: the search parameters (``nprobe``, ``exact``,
``report``), refused ``nprobe`` embedded and over HTTP, and the merge across shards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from faasflow import Document, DocumentArray, Flow
from faasflow.embedded import EmbeddedBackend
from faasflow.errors import BadRequest, FlowConfigError
from faasflow.executors.vector_indexer import VectorIndexer
from faasflow.serve import start_background_server
from tests.support.results import per_shard

POLLING = {"/search": "ALL", "/count": "ALL", "*": "ANY"}
USES_WITH = {"metric": "dot", "ivf_min_rows": 2500, "nlist": 16, "nprobe": 4}


def clustered(rows: int, seed: int, dim: int = 24) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(7).standard_normal((40, dim)).astype(np.float32)
    data = centres[rng.integers(0, 40, rows)] + 0.35 * rng.standard_normal((rows, dim)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def docs_of(matrix: np.ndarray, prefix: str = "d") -> DocumentArray:
    return DocumentArray(Document(id=f"{prefix}{i}", tags={"odd": i % 2}, embedding=row)
                         for i, row in enumerate(matrix))


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return clustered(7000, seed=1)


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory, data: np.ndarray) -> Iterator[Flow]:
    flow = Flow(workspace=str(tmp_path_factory.mktemp("ivf-flow"))).add(
        uses=VectorIndexer, name="idx", shards=2, uses_with=USES_WITH, polling=POLLING)
    with flow:
        flow.post("/index", docs_of(data), request_size=7000)
        yield flow


def test_sharded_approximate_search_merges_like_exact(flow: Flow, data: np.ndarray):
    queries = clustered(20, seed=2)
    ask = DocumentArray(Document(id=f"q{i}", embedding=q) for i, q in enumerate(queries))
    responses = flow.post("/search", ask, parameters={"limit": 10, "report": True}, return_responses=True)
    answer = responses[0].docs
    reports = [r["search"] for r in per_shard(responses[0].parameters["__results__"], "idx")]
    assert len(reports) == 2 and all(not r["exact"] and r["nprobe"] == 4 for r in reports)
    assert all(r["lists_probed"] == 4 * 20 and 0 < r["vectors_scanned"] < 3500 * 20 for r in reports)
    truth = np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :10]
    got = [query.matches.ids for query in answer]
    assert np.mean([len(set(g) & {f"d{i}" for i in t}) / 10 for g, t in zip(got, truth)]) >= 0.95
    for query in answer:  # merged across shards: sorted, cut, exact values
        values = [m.scores["dot"].value for m in query.matches]
        assert values == sorted(values, reverse=True) and len(values) == 10
    exact = flow.post("/search", ask, parameters={"limit": 10, "exact": True})
    assert [q.matches.ids for q in exact] == [[f"d{i}" for i in row] for row in truth]
    filtered = flow.post("/search", ask, parameters={"limit": 5, "filter": {"odd": 1}, "nprobe": 16})
    assert all(m.tags["odd"] == 1 for q in filtered for m in q.matches)


def test_nprobe_is_checked_embedded(tmp_path: Path, data: np.ndarray):
    indexer = VectorIndexer(workspace=str(tmp_path), runtime_args={"name": "idx"}, **USES_WITH)
    indexer.index(docs_of(data[:3000]))
    query = DocumentArray([Document(embedding=data[0])])
    for nprobe, says in ((0, "positive integer"), (-3, "positive integer"), (17, "1 to the shard's 16 lists"),
                         (2.5, "positive integer"), (True, "positive integer")):
        with pytest.raises(BadRequest, match=says) as caught:
            indexer.search(query, {"nprobe": nprobe})
        assert caught.value.field == "nprobe"
    with pytest.raises(BadRequest, match="exact must be true or false"):
        indexer.search(query, {"exact": "yes"})
    result = indexer.search(query, {"nprobe": 16, "report": True})
    assert result is not None and result["search"]["lists_probed"] == 16
    assert query[0].matches[0].id == "d0"
    with pytest.raises(FlowConfigError, match="nprobe"):
        VectorIndexer(workspace=str(tmp_path), runtime_args={"name": "idx"}, nprobe=0)
    for option, value in (("ivf_min_rows", 0), ("ivf_min_rows", "many"), ("nlist", 0), ("nlist", 10**6),
                          ("nlist", 2.0), ("cache_bytes", -1), ("cache_bytes", True), ("retrain_ratio", 0),
                          ("retrain_ratio", float("nan")), ("retrain_ratio", float("inf")), ("retrain_ratio", "2")):
        with pytest.raises(FlowConfigError, match=option) as refused:
            VectorIndexer(workspace=str(tmp_path), runtime_args={"name": "idx"}, **{option: value})
        assert refused.value.field == option


def test_nprobe_is_a_422_over_http(flow: Flow):
    server = start_background_server(EmbeddedBackend(flow), port=0)
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
            query = {"id": "q", "embedding": [0.1] * 24}
            for nprobe in (0, 17):
                answer = http.post("/search", json={"data": [query], "parameters": {"nprobe": nprobe}})
                assert answer.status_code == 422, answer.text
                assert "nprobe" in answer.text
            before = search_counters(http.get("/metrics").text)
            answer = http.post("/search", json={"data": [query], "parameters": {"nprobe": 16, "limit": 3}})
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["data"][0]["matches"]) == 3
            after = search_counters(http.get("/metrics").text)
    finally:
        server.stop()
    for shard in ("0", "1"):  # each shard probed its 16 lists for the one query, and scanned its rows
        assert after[("faasflow_search_queries_total", shard)] - before[("faasflow_search_queries_total", shard)] == 1
        probed = after[("faasflow_search_lists_probed_total", shard)] - before[("faasflow_search_lists_probed_total",
                                                                              shard)]
        assert probed == 16
        scanned = (after[("faasflow_search_vectors_scanned_total", shard)]
                   - before[("faasflow_search_vectors_scanned_total", shard)])
        assert 2000 < scanned < 5000
        assert after[("faasflow_search_bytes_read_total", shard)] >= 0  # local shards: memory-mapped, none read


def search_counters(text: str) -> dict[tuple[str, str], float]:
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(r'(faasflow_search_\w+_total)\{executor="idx",shard="(\d)"\} (\S+)', line)
        if match:
            found[(match[1], match[2])] = float(match[3])
    return found
