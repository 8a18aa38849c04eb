"""DocumentArray.find / match and faasflow.search, checked against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist

from faasflow import Document, DocumentArray
from faasflow.columns import EmbeddingColumn
from faasflow.search import METRICS, higher_is_better, score_matrix, top_k

N_INDEX, N_QUERY, DIM = 300, 6, 24


def reference_scores(queries: np.ndarray, index: np.ndarray, metric: str) -> np.ndarray:
    """Brute force in float64: scipy's cdist, or an explicit loop for dot."""
    q, x = queries.astype(np.float64), index.astype(np.float64)
    if metric == "dot":
        out = np.empty((len(q), len(x)))
        for i in range(len(q)):
            for j in range(len(x)):
                out[i, j] = float(np.sum(q[i] * x[j]))
        return out
    out = cdist(q, x, metric)
    if metric == "cosine":
        # scipy gives nan against an all-zero vector; faasflow documents 1.0 ("unrelated")
        out[np.isnan(out)] = 1.0
    return out


def assert_top_k(found: DocumentArray, ref_row: np.ndarray, ids: list[str], k: int, metric: str, tol: float):
    """``found`` is a correct top-k of ``ref_row``, allowing any order among near-ties."""
    position = {doc_id: i for i, doc_id in enumerate(ids)}
    assert len(found) == min(k, len(ids))
    got = np.array([d.scores[metric].value for d in found])
    expected_at = np.array([ref_row[position[d.id]] for d in found])
    np.testing.assert_allclose(got, expected_at, rtol=tol, atol=tol)
    assert len({d.id for d in found}) == len(found)
    keys = -ref_row if higher_is_better(metric) else ref_row
    found_keys = -got if higher_is_better(metric) else got
    assert np.all(np.diff(found_keys) >= -tol), "results must be best first"
    kth = np.sort(keys)[len(found) - 1]
    must_have = {ids[i] for i in np.flatnonzero(keys < kth - tol)}
    assert must_have <= {d.id for d in found}


@pytest.fixture(scope="module")
def dense():
    rng = np.random.default_rng(7)
    index = rng.normal(size=(N_INDEX, DIM)).astype(np.float32)
    queries = rng.normal(size=(N_QUERY, DIM)).astype(np.float32)
    return index, queries


@pytest.fixture(scope="module")
def sparse():
    rng = np.random.default_rng(11)
    index = rng.integers(-2, 3, size=(N_INDEX, DIM)) * (rng.random((N_INDEX, DIM)) < 0.3)
    queries = rng.integers(-2, 3, size=(N_QUERY, DIM)) * (rng.random((N_QUERY, DIM)) < 0.3)
    return index.astype(np.float32), queries.astype(np.float32)


def index_of(matrix: np.ndarray) -> DocumentArray:
    return DocumentArray(Document(id=f"x{i}", embedding=row.copy()) for i, row in enumerate(matrix))


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean", "dot"])
def test_find_matches_brute_force_on_dense_floats(dense, metric):
    index, queries = dense
    da = index_of(index)
    ref = reference_scores(queries, index, metric)
    results = da.find(queries, metric=metric, limit=10)
    assert isinstance(results, list) and len(results) == N_QUERY
    for row, found in enumerate(results):
        assert_top_k(found, ref[row], da.ids, 10, metric, tol=1e-4)
        # random data has no near-ties: the exact reference order must come out
        order = np.argsort(-ref[row] if higher_is_better(metric) else ref[row], kind="stable")[:10]
        assert found.ids == [da.ids[i] for i in order]


def test_find_jaccard_matches_scipy_with_ties(sparse):
    index, queries = sparse
    da = index_of(index)
    ref = cdist(queries, index, "jaccard")
    results = da.find(queries, metric="jaccard", limit=15)
    for row, found in enumerate(results):
        assert_top_k(found, ref[row], da.ids, 15, "jaccard", tol=1e-9)
        # exact ties break by position in the array
        scores = [d.scores["jaccard"].value for d in found]
        positions = [da.ids.index(d.id) for d in found]
        for a in range(len(found) - 1):
            if abs(scores[a] - scores[a + 1]) < 1e-12:
                assert positions[a] < positions[a + 1]


@pytest.mark.parametrize("metric", METRICS)
def test_score_matrix_equals_reference_for_every_pair(dense, sparse, metric):
    index, queries = sparse if metric == "jaccard" else dense
    got = score_matrix(queries, EmbeddingColumn(index), metric)
    assert got.shape == (N_QUERY, N_INDEX)
    np.testing.assert_allclose(got, reference_scores(queries, index, metric), rtol=1e-4, atol=1e-4)


def test_float64_data_is_exact_to_double_precision(dense):
    index, queries = (a.astype(np.float64) for a in dense)
    for metric in ("cosine", "euclidean", "sqeuclidean", "dot"):
        got = score_matrix(queries, EmbeddingColumn(index), metric)
        np.testing.assert_allclose(got, reference_scores(queries, index, metric), rtol=1e-9, atol=1e-9)


def test_dot_is_best_first_descending_and_distances_ascending():
    da = DocumentArray(Document(id=str(i), embedding=[float(i), 0.0]) for i in range(1, 6))
    query = np.array([1.0, 0.0])
    by_dot = da.find(query, metric="dot", limit=5)
    assert by_dot.ids == ["5", "4", "3", "2", "1"]
    assert [d.scores["dot"].value for d in by_dot] == [5.0, 4.0, 3.0, 2.0, 1.0]
    by_euclid = da.find(query, metric="euclidean", limit=5)
    assert by_euclid.ids == ["1", "2", "3", "4", "5"]
    assert [d.scores["euclidean"].value for d in by_euclid] == [0.0, 1.0, 2.0, 3.0, 4.0]


@settings(max_examples=150, deadline=None)
@given(
    data=st.integers(min_value=1, max_value=12).flatmap(
        lambda dim: st.tuples(
            hnp.arrays(np.int8, st.tuples(st.integers(1, 6), st.just(dim)),
                       elements=st.sampled_from([0, 0, 0, 1, -1, 2, 5])),
            hnp.arrays(np.int8, st.tuples(st.integers(1, 10), st.just(dim)),
                       elements=st.sampled_from([0, 0, 0, 1, -1, 3])),
        )
    )
)
def test_jaccard_property_against_scipy(data):
    queries, index = data
    expected = cdist(queries.astype(np.float64), index.astype(np.float64), "jaccard")
    got = score_matrix(queries, EmbeddingColumn(index), "jaccard")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    da = index_of(index)
    for row, found in enumerate(da.find(queries, metric="jaccard", limit=len(index))):
        assert_top_k(found, expected[row], da.ids, len(index), "jaccard", tol=1e-12)


# --- query forms and result shape ---


def test_find_document_returns_document_array(dense):
    index, queries = dense
    da = index_of(index)
    # docarray v1: a Document query answers a list holding one DocumentArray
    (found,) = da.find(Document(embedding=queries[0]), limit=5)
    assert isinstance(found, DocumentArray)
    assert len(found) == 5
    one_d = da.find(queries[0], limit=5)
    assert isinstance(one_d, DocumentArray)
    assert one_d.ids == found.ids


def test_find_many_returns_one_array_per_query(dense):
    index, queries = dense
    da = index_of(index)
    docs = DocumentArray(Document(embedding=q) for q in queries)
    by_docs = da.find(docs, limit=5)
    by_list = da.find(list(docs), limit=5)
    by_matrix = da.find(queries, limit=5)
    for results in (by_docs, by_list, by_matrix):
        assert isinstance(results, list)
        assert len(results) == N_QUERY
        assert all(isinstance(r, DocumentArray) and len(r) == 5 for r in results)
    assert [r.ids for r in by_docs] == [r.ids for r in by_matrix] == [r.ids for r in by_list]
    top3 = da.find(docs, limit=5)[0][:3]
    assert isinstance(top3, DocumentArray) and top3.ids == by_docs[0].ids[:3]


def test_results_are_scored_copies(dense):
    index, queries = dense
    da = index_of(index)
    found = da.find(queries[0], metric="sqeuclidean", limit=3)
    for hit in found:
        stored = da[hit.id]
        assert hit is not stored
        assert hit.scores["sqeuclidean"].value is not None
        assert hit.scores["sqeuclidean"].op_name == "sqeuclidean"
        assert "sqeuclidean" not in stored.scores
        hit.tags["touched"] = True
        assert "touched" not in stored.tags


def test_use_scipy_flag_gives_same_results(dense):
    index, queries = dense
    da = index_of(index)
    a = da.find(queries[0], metric="euclidean", limit=5)
    b = da.find(queries[0], metric="euclidean", limit=5, use_scipy=True)
    assert a.ids == b.ids


# --- limit and exclude_self ---


def test_limit(dense):
    index, queries = dense
    da = index_of(index[:8])
    assert len(da.find(queries[0], limit=3)) == 3
    assert len(da.find(queries[0], limit=8)) == 8
    assert len(da.find(queries[0], limit=100)) == 8
    assert len(da.find(queries[0], limit=None)) == 8  # docarray v1: None is all
    with pytest.raises(ValueError, match="limit"):  # docarray v1: 0 is refused too
        da.find(queries[0], limit=0)
    with pytest.raises(ValueError, match="limit"):
        da.find(queries[0], limit=-1)


def test_exclude_self(dense):
    index, _ = dense
    da = index_of(index[:50])
    query = da[7]
    (with_self,) = da.find(query, metric="euclidean", limit=5)
    assert with_self[0].id == query.id
    # float32 |q|^2 + |x|^2 - 2 q.x loses precision near 0 (as docarray v1's numpy kernel does):
    # scipy says 0.0 exactly, the sqrt of the cancellation error is ~1e-3 here
    assert with_self[0].scores["euclidean"].value == pytest.approx(0.0, abs=5e-3)
    (without,) = da.find(query, metric="euclidean", limit=5, exclude_self=True)
    assert query.id not in without.ids
    assert len(without) == 5
    assert without.ids[:4] == with_self.ids[1:]
    assert without.ids == [d.id for d in da.find(query, metric="euclidean", limit=6)[0][1:]]


def test_exclude_self_for_many_queries(dense):
    index, _ = dense
    da = index_of(index[:30])
    for query, found in zip(da, da.find(da, metric="cosine", limit=4, exclude_self=True)):
        assert query.id not in found.ids
        assert len(found) == 4


def test_exclude_self_does_nothing_for_raw_vectors(dense):
    index, _ = dense
    da = index_of(index[:10])
    found = da.find(index[3], metric="sqeuclidean", limit=2, exclude_self=True)
    assert found.ids[0] == "x3"


def test_ties_break_by_position():
    da = DocumentArray(Document(id=f"t{i}", embedding=[1.0, 1.0]) for i in range(6))
    for metric in METRICS:
        assert da.find(np.array([1.0, 1.0]), metric=metric, limit=4).ids == ["t0", "t1", "t2", "t3"]


# --- errors and empty inputs ---


def test_index_document_without_embedding_is_named():
    da = DocumentArray([Document(id="ok", embedding=[1.0, 0.0]), Document(id="no-emb")])
    with pytest.raises(ValueError, match="no-emb"):
        da.find(np.array([1.0, 0.0]))


def test_query_document_without_embedding_is_named():
    da = DocumentArray([Document(id="ok", embedding=[1.0, 0.0])])
    with pytest.raises(ValueError, match="q-missing"):
        da.find(Document(id="q-missing"))
    with pytest.raises(ValueError, match="q2"):
        da.find(DocumentArray([Document(id="q1", embedding=[1.0, 0.0]), Document(id="q2")]))


def test_dimension_mismatch_is_an_error(dense):
    index, _ = dense
    da = index_of(index[:5])
    with pytest.raises(ValueError, match="dimension 3"):
        da.find(np.ones(3, dtype=np.float32))


@pytest.mark.parametrize("size", [0, 3])
def test_unknown_metric_is_an_error(size):
    da = DocumentArray(Document(embedding=[1.0, 0.0]) for _ in range(size))
    with pytest.raises(ValueError, match="manhattan"):
        da.find(np.array([1.0, 0.0]), metric="manhattan")


def test_empty_index():
    da = DocumentArray()
    (single,) = da.find(Document(embedding=[1.0, 2.0]))
    assert isinstance(single, DocumentArray) and len(single) == 0
    many = da.find(DocumentArray([Document(embedding=[1.0]), Document(embedding=[2.0])]))
    assert isinstance(many, list) and len(many) == 2
    assert all(isinstance(r, DocumentArray) and len(r) == 0 for r in many)


def test_empty_queries():
    da = DocumentArray([Document(embedding=[1.0, 2.0])])
    assert da.find(DocumentArray()) == []
    assert da.find(np.empty((0, 2), dtype=np.float32)) == []


def test_zero_vectors_have_cosine_distance_one():
    # scipy's cdist gives nan here; faasflow gives the finite maximum "unrelated" distance
    da = DocumentArray([Document(id="z", embedding=[0.0, 0.0]), Document(id="a", embedding=[1.0, 0.0])])
    found = da.find(np.array([1.0, 0.0]), metric="cosine", limit=2)
    assert found.ids == ["a", "z"]
    assert found[1].scores["cosine"].value == pytest.approx(1.0)


# --- after in-place edits ---


@pytest.mark.parametrize("metric", METRICS)
def test_search_after_in_place_edit_matches_brute_force(sparse, metric):
    index, queries = sparse
    da = index_of(index[:40])
    da.find(queries[0], metric=metric, limit=5)  # computes and caches norms / non-zero counts
    da[3].embedding[:] = queries[0]  # in place through the row view
    da.embeddings[5] *= 0
    edited = np.array([d.embedding for d in da])
    ref = reference_scores(queries[:1], edited, metric)[0]
    found = da.find(queries[0], metric=metric, limit=40)
    assert_top_k(found, ref, da.ids, 40, metric, tol=1e-5)


def test_search_after_replacing_and_appending(dense):
    index, queries = dense
    da = index_of(index[:20])
    da.find(queries[0], limit=3)
    da[0].embedding = queries[0].copy()
    assert da.find(queries[0], limit=1).ids == ["x0"]
    da.append(Document(id="new", embedding=queries[1].copy()))
    assert da.find(queries[1], limit=1).ids == ["new"]


# --- match ---


def test_match_fills_matches(dense):
    index, queries = dense
    da = index_of(index)
    docs = DocumentArray(Document(id=f"q{i}", embedding=q) for i, q in enumerate(queries))
    assert docs.match(da, metric="cosine", limit=4) is docs
    expected = da.find(queries, metric="cosine", limit=4)
    for doc, found in zip(docs, expected):
        assert len(doc.matches) == 4
        assert doc.matches.ids == found.ids
        assert all("cosine" in m.scores for m in doc.matches)
        assert "cosine" not in doc.scores


def test_match_against_empty_and_from_empty():
    docs = DocumentArray([Document(embedding=[1.0, 0.0])])
    docs.match(DocumentArray())
    assert len(docs[0].matches) == 0
    empty = DocumentArray()
    assert empty.match(docs) is empty


# --- top_k directly ---


def test_top_k_orders_and_truncates():
    scores = np.array([[0.3, 0.1, 0.2, 0.1]])
    idx, val = top_k(scores, 3, "cosine")
    assert idx.tolist() == [[1, 3, 2]]
    assert val.tolist() == [[0.1, 0.1, 0.2]]
    idx, val = top_k(scores, 2, "dot")
    assert idx.tolist() == [[0, 2]]
    idx, val = top_k(scores, 0, "dot")
    assert idx.shape == (1, 0)
