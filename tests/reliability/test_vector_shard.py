"""A VectorIndexer shard no single request can break: every caller's mistake (a bad
embedding, another dimension, a bad search parameter) is a BadRequest naming the doc and
field, nothing of the request is stored, and every later search, in this Flow or a fresh
one over the same storage, still answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from faasflow import Document, DocumentArray, Flow
from faasflow.errors import BadRequest, FlowConfigError, FlowError
from faasflow.executors.vector_indexer import MAX_LIMIT, VectorIndexer
from faasflow.sharding import shard_of
from faasflow.storage.segments import MANIFEST, SEGMENTS
from tests.support.results import per_shard

DIM = 8
SHARDS = 2
POLLING = {"/search": "ALL", "/count": "ALL", "*": "ANY"}
METRICS = ("cosine", "dot", "euclidean", "sqeuclidean", "jaccard")


def flow_over(workspace: Path, **uses_with: Any) -> Flow:
    return Flow(workspace=str(workspace)).add(
        uses="faasflow.executors.VectorIndexer", name="idx", shards=SHARDS, polling=POLLING, uses_with=uses_with
    )


def corpus(count: int = 40, dim: int = DIM, seed: int = 0, prefix: str = "d") -> DocumentArray:
    rng = np.random.default_rng(seed)
    return DocumentArray(
        Document(id=f"{prefix}{i}", text=f"doc {i}", tags={"lang": "en" if i % 3 else "de"},
                 embedding=rng.standard_normal(dim).astype(np.float32))
        for i in range(count)
    )


def ids_on_one_shard(count: int, prefix: str = "new") -> list[str]:
    """Ids the ANY polling sends to one shard: a request of them reaches one executor."""
    found: list[str] = []
    number = 0
    while len(found) < count:
        candidate = f"{prefix}{number}"
        if shard_of(candidate, SHARDS) == 0:
            found.append(candidate)
        number += 1
    return found


QUERIES = corpus(3, seed=7, prefix="q")


def counts(flow: Flow) -> list[int]:
    results = flow.post("/count", return_responses=True)[0].parameters["__results__"]
    return [c["count"] for c in per_shard(results, "idx")]


def snapshot(flow: Flow) -> dict[str, Any]:
    """What the shards hold, as every metric's answers and the counts show it."""
    answers = {}
    for metric in METRICS:
        found = flow.post("/search", QUERIES.copy(), parameters={"limit": 5, "metric": metric})
        answers[metric] = [[(m.id, round(m.scores[metric].value, 4)) for m in q.matches] for q in found]
    return {"counts": counts(flow), "answers": answers}


def refused(flow: Flow, endpoint: str, docs: Any, parameters: dict[str, Any] | None = None) -> BadRequest:
    with pytest.raises(FlowError) as caught:
        flow.post(endpoint, docs, parameters=parameters or {})
    cause = caught.value.cause
    assert isinstance(cause, BadRequest), repr(cause)
    return cause


def good(doc_id: str, seed: int = 1) -> Document:
    return Document(id=doc_id, embedding=np.random.default_rng(seed).standard_normal(DIM).astype(np.float32))


def with_value(value: float, dtype: Any = np.float32) -> np.ndarray:
    row = np.ones(DIM, dtype=dtype)
    row[3] = value
    return row


BAD_EMBEDDINGS: dict[str, Any] = {
    "nan": with_value(np.nan),
    "inf": with_value(np.inf),
    "minus-inf": with_value(-np.inf),
    "float64-past-float32": with_value(1e39, np.float64),
    "overflowing-length": np.full(DIM, 1e30, np.float32),
    "complex": np.ones(DIM, np.complex64),
    "bool": np.ones(DIM, bool),
    "string": np.array(["1.0"] * DIM),
    "structured": np.zeros(DIM, dtype=[("x", "<f4")]),
    "object": np.array([1.0] * (DIM - 1) + [None], dtype=object),
    "missing": None,
    "zero-d": np.array(1.0, np.float32),
    "two-d": np.ones((2, DIM // 2), np.float32),
    "empty": np.zeros(0, np.float32),
    "other-dimension": np.ones(DIM - 3, np.float32),
    "larger-dimension": np.ones(DIM * 2, np.float32),
}


@pytest.fixture
def seeded(tmp_path: Path):
    """A 2-shard Flow holding 40 docs, and what it answered before any bad request."""
    flow = flow_over(tmp_path)
    with flow:
        flow.post("/index", corpus(), request_size=10)
        yield flow, snapshot(flow)


def assert_unchanged_in_a_fresh_flow(workspace: Path, before: dict[str, Any]) -> None:
    with flow_over(workspace) as fresh:
        assert snapshot(fresh) == before


@pytest.mark.parametrize("case", sorted(BAD_EMBEDDINGS))
@pytest.mark.parametrize("endpoint", ["/index", "/update"])
def test_a_bad_embedding_is_refused_and_nothing_of_its_request_is_stored(seeded, tmp_path: Path, case: str,
                                                                         endpoint: str):
    flow, before = seeded
    first, bad, last = ids_on_one_shard(3)
    if endpoint == "/update":  # only docs the shard holds are updated: make these three held
        flow.post("/index", DocumentArray([good(first), good(bad), good(last)]))
        before = snapshot(flow)
    request = DocumentArray([good(first, seed=2), Document(id=bad, embedding=BAD_EMBEDDINGS[case]),
                             good(last, seed=3)])
    cause = refused(flow, endpoint, request)
    assert (cause.doc_id, cause.field) == (bad, "embedding")
    if "dimension" in case:
        given = len(BAD_EMBEDDINGS[case])
        assert f"{given} dimensions" in str(cause) and f"{DIM}-dimensional" in str(cause)
    assert snapshot(flow) == before  # the good docs of the request were not stored either
    flow.post("/index", DocumentArray([good(first, seed=4)]))  # the shard still takes good writes
    after = snapshot(flow)
    flow.close()
    assert_unchanged_in_a_fresh_flow(tmp_path, after)


def test_a_request_of_another_dimension_is_refused_naming_its_first_doc(seeded, tmp_path: Path):
    flow, before = seeded
    ids = ids_on_one_shard(3)
    request = DocumentArray(Document(id=i, embedding=np.ones(DIM + 1, np.float32)) for i in ids)
    cause = refused(flow, "/index", request)
    assert (cause.doc_id, cause.field) == (ids[0], "embedding")
    assert f"{DIM + 1} dimensions" in str(cause) and f"{DIM}-dimensional" in str(cause)
    assert snapshot(flow) == before


def test_the_doc_of_the_odd_dimension_is_named_even_when_it_comes_first(seeded):
    flow, before = seeded
    first, second = ids_on_one_shard(2)
    request = DocumentArray([Document(id=first, embedding=np.ones(DIM + 2, np.float32)), good(second)])
    cause = refused(flow, "/index", request)
    assert cause.doc_id == first  # the shard's dimension decides which doc is wrong
    assert snapshot(flow) == before


def test_within_an_empty_shard_a_request_of_two_dimensions_is_refused(tmp_path: Path):
    first, second = ids_on_one_shard(2)
    with flow_over(tmp_path) as flow:
        request = DocumentArray([good(first), Document(id=second, embedding=np.ones(DIM + 1, np.float32))])
        cause = refused(flow, "/index", request)
        assert (cause.doc_id, cause.field) == (second, "embedding")
        assert counts(flow) == [0, 0]
        flow.post("/index", DocumentArray([Document(id=second, embedding=np.ones(DIM + 1, np.float32))]))
        assert sum(counts(flow)) == 1  # the first write fixes the dimension


@pytest.mark.parametrize("case", sorted(BAD_EMBEDDINGS))
def test_a_bad_query_is_refused_naming_it(seeded, tmp_path: Path, case: str):
    flow, before = seeded
    queries = DocumentArray([good("q-ok"), Document(id="q-bad", embedding=BAD_EMBEDDINGS[case])])
    if "dimension" in case:  # a request's queries share one dimension: all of them are of the other one
        queries = DocumentArray([Document(id="q-bad", embedding=BAD_EMBEDDINGS[case])])
    cause = refused(flow, "/search", queries, {"limit": 3})
    assert (cause.doc_id, cause.field) == ("q-bad", "embedding")
    assert snapshot(flow) == before
    flow.close()
    assert_unchanged_in_a_fresh_flow(tmp_path, before)


BAD_PARAMETERS: list[tuple[str, Any]] = [
    ("limit", -1),
    ("limit", "abc"),
    ("limit", "3"),
    ("limit", 1.5),
    ("limit", 10.0),
    ("limit", True),
    ("limit", 1e300),
    ("limit", 2**63),
    ("limit", MAX_LIMIT + 1),
    ("limit", [3]),
    ("filter", 5),
    ("filter", ["lang"]),
    ("filter", "lang=en"),
    ("metric", "nope"),
    ("metric", 5),
    ("metric", ["cosine"]),
]


@pytest.mark.parametrize(("name", "value"), BAD_PARAMETERS)
def test_a_bad_search_parameter_is_refused_naming_it(seeded, tmp_path: Path, name: str, value: Any):
    flow, before = seeded
    cause = refused(flow, "/search", QUERIES.copy(), {name: value})
    assert cause.field == name and cause.doc_id is None
    assert name in str(cause)
    assert snapshot(flow) == before


@pytest.mark.parametrize("value", [{1: "en"}, {"lang": {1, 2}}])
def test_a_filter_no_request_could_carry_is_refused_by_the_shard_too(tmp_path: Path, value: Any):
    """A Flow refuses these parameters before any executor runs; a direct caller gets a
    BadRequest from the shard (not a TypeError from deep in a search)."""
    indexer = shard(tmp_path)
    indexer.index(corpus(5))
    with pytest.raises(BadRequest) as caught:
        indexer.search(QUERIES.copy(), {"filter": value})
    assert caught.value.field == "filter"


def test_null_parameters_mean_the_defaults(seeded):
    flow, _ = seeded
    plain = flow.post("/search", QUERIES.copy())
    nulls = flow.post("/search", QUERIES.copy(), parameters={"limit": None, "metric": None, "filter": None})
    assert [q.matches.ids for q in nulls] == [q.matches.ids for q in plain]
    assert all("cosine" in m.scores for q in nulls for m in q.matches)


def test_a_limit_beyond_the_shards_documents_finds_them_all(seeded):
    flow, _ = seeded
    found = flow.post("/search", QUERIES.copy(), parameters={"limit": MAX_LIMIT})
    assert all(len(q.matches) == 40 for q in found)  # no room is reserved for hits that cannot exist
    assert all(len(q.matches) == 0 for q in flow.post("/search", QUERIES.copy(), parameters={"limit": 0}))


def test_a_bad_configuration_is_a_config_error(tmp_path: Path):
    with pytest.raises(FlowConfigError, match="metric"):
        VectorIndexer(metric="nope", workspace=str(tmp_path))
    with pytest.raises(FlowConfigError, match="limit"):
        VectorIndexer(limit=-3, workspace=str(tmp_path))


# --- the dimension lives in the manifest ---


def shard(tmp_path: Path, **uses_with: Any) -> VectorIndexer:
    """A fresh instance of shard 0: as another process or container would open it."""
    return VectorIndexer(workspace=str(tmp_path), runtime_args={"name": "idx", "shard_id": 0}, **uses_with)


def manifest_json(indexer: VectorIndexer) -> dict[str, Any]:
    found = indexer.shard_index.log.storage.get_versioned(MANIFEST)
    assert found is not None
    return orjson.loads(found[0])


def test_the_first_write_records_the_dimension_and_a_fresh_instance_enforces_it(tmp_path: Path):
    first = shard(tmp_path)
    first.index(corpus(5))
    assert {k: manifest_json(first)[k] for k in ("dim", "dtype")} == {"dim": DIM, "dtype": "<f4"}
    second = shard(tmp_path)  # nothing cached: it learns the dimension from the manifest
    with pytest.raises(BadRequest) as caught:
        second.index(DocumentArray([Document(id="x", embedding=np.ones(DIM + 1))]))
    assert (caught.value.doc_id, caught.value.field) == ("x", "embedding")
    with pytest.raises(BadRequest, match=f"{DIM}-dimensional"):
        shard(tmp_path).search(DocumentArray([Document(id="q", embedding=np.ones(3))]), {})
    assert shard(tmp_path).count() == {"count": 5}
    first.index(corpus(5, prefix="e"))  # every write after the first checks, none rewrites it
    assert manifest_json(first)["dim"] == DIM


def test_the_dimension_survives_deleting_every_document(tmp_path: Path):
    indexer = shard(tmp_path, max_segments=1, merge_factor=2)
    docs = corpus(4)
    indexer.index(docs)
    indexer.delete(docs)
    indexer.shard_index.compact(full=True)
    assert indexer.count() == {"count": 0}
    with pytest.raises(BadRequest):
        shard(tmp_path).index(DocumentArray([Document(id="x", embedding=np.ones(DIM + 1))]))


def test_a_manifest_without_a_dimension_is_read_and_the_dimension_derived(tmp_path: Path):
    """Shards written before the manifest recorded a dimension keep working."""
    old = shard(tmp_path)
    old.index(corpus(6))
    storage = old.shard_index.log.storage
    data, version = storage.get_versioned(MANIFEST)
    legacy = {k: v for k, v in orjson.loads(data).items() if k in ("generation", "segments")}
    storage.put_if_version(MANIFEST, orjson.dumps(legacy), version)
    fresh = shard(tmp_path)
    assert fresh.shard_index.log.manifest().dim is None
    with pytest.raises(BadRequest, match=f"{DIM}-dimensional"):
        fresh.index(DocumentArray([Document(id="x", embedding=np.ones(DIM + 1))]))
    query = DocumentArray([Document(id="q", embedding=corpus(6)[2].embedding)])
    shard(tmp_path).search(query, {"limit": 1})
    assert query[0].matches.ids == ["d2"]
    fresh.index(corpus(3, prefix="n"))  # the next accepted write records it
    assert manifest_json(fresh)["dim"] == DIM and fresh.count() == {"count": 9}


def test_concurrent_first_writes_of_two_dimensions_cannot_both_win(tmp_path: Path, monkeypatch):
    """Two writers that both saw an empty shard: the manifest's conditional swap lets one
    dimension in; the other write is refused and its segment removed."""
    winner, loser = shard(tmp_path), shard(tmp_path)
    monkeypatch.setattr(loser.shard_index, "dim", lambda: None)  # it looked before the winner wrote
    winner.index(corpus(3))
    with pytest.raises(BadRequest) as caught:
        loser.index(DocumentArray([Document(id="x", embedding=np.ones(DIM + 1))]))
    assert (caught.value.doc_id, caught.value.field) == ("x", "embedding")
    log = winner.shard_index.log
    assert set(log.storage.list(SEGMENTS)) == set(log.manifest().segments)  # no orphan left behind
    assert shard(tmp_path).count() == {"count": 3}


# --- compaction never meets data it cannot merge ---


def test_compaction_after_many_accepted_and_refused_writes(tmp_path: Path):
    rng = np.random.default_rng(3)
    indexer = shard(tmp_path, max_segments=4, merge_factor=3)
    held: dict[str, np.ndarray] = {}
    refusals = 0
    for step in range(150):
        count = int(rng.integers(1, 6))
        ids = [f"d{int(i)}" for i in rng.integers(0, 120, count)]
        docs = DocumentArray(
            Document(id=i, embedding=rng.standard_normal(DIM).astype(np.float32),
                     tags={"step": step} if step % 2 else {}) for i in ids
        )
        action = step % 5
        if action == 4:  # a mistake among the writes: another dimension, or a NaN
            bad = rng.standard_normal(DIM + 1 + step % 3) if step % 10 == 4 else np.full(DIM, np.nan)
            docs.append(Document(id=f"bad{step}", embedding=bad))
            with pytest.raises(BadRequest):
                indexer.index(docs)
            refusals += 1
        elif action == 3:
            indexer.delete(docs)
            for i in ids:
                held.pop(i, None)
        elif action == 2:
            indexer.update(docs)
            for doc in docs:
                if doc.id in held:
                    held[doc.id] = doc.embedding
        else:
            indexer.index(docs)
            for doc in docs:
                held[doc.id] = doc.embedding
    assert refusals == 30
    assert indexer.count() == {"count": len(held)}
    assert len(indexer.shard_index.log.manifest().segments) <= 4
    indexer.shard_index.compact(full=True)
    assert len(indexer.shard_index.log.manifest().segments) == 1

    fresh = shard(tmp_path)
    assert fresh.count() == {"count": len(held)}
    ids = sorted(held)
    matrix = np.stack([held[i] for i in ids])
    for target in ids[:10]:
        query = DocumentArray([Document(id="q", embedding=held[target])])
        fresh.search(query, {"limit": 3, "metric": "euclidean"})
        assert query[0].matches[0].id == target
    query = DocumentArray([Document(id="q", embedding=matrix[0])])
    fresh.search(query, {"limit": len(ids) + 5, "metric": "dot"})
    assert sorted(query[0].matches.ids) == ids


# --- scores stay numbers ---


@pytest.mark.parametrize("metric", METRICS)
def test_every_accepted_doc_is_found_with_a_finite_score(seeded, metric: str):
    flow, _ = seeded
    found = flow.post("/search", QUERIES.copy(), parameters={"limit": 100, "metric": metric})
    for query in found:
        assert len(query.matches) == 40
        assert all(np.isfinite(m.scores[metric].value) for m in query.matches)


def each_refusal() -> list[Callable[[VectorIndexer], None]]:
    return [
        lambda ix: ix.index(DocumentArray([Document(id="x", embedding=np.array([np.nan] * DIM))])),
        lambda ix: ix.search(DocumentArray([Document(id="x", embedding=np.ones(DIM))]), {"limit": -1}),
    ]


@pytest.mark.parametrize("call", each_refusal())
def test_refusals_are_value_errors_for_direct_callers(tmp_path: Path, call):
    """Code that called the indexer directly and caught ValueError keeps working."""
    with pytest.raises(ValueError):
        call(shard(tmp_path))
