"""Blocked exact search with a running top-k equals a stable sort of the full score matrix."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faasflow.columns import EmbeddingColumn
from faasflow.index.compaction import plan_merge
from faasflow.search import Block, RunningTopK, higher_is_better, score_matrix, search_blocks

METRICS = ["dot", "cosine", "euclidean", "sqeuclidean", "jaccard"]


def reference(queries: np.ndarray, matrix: np.ndarray, metric: str, k: int, valid: np.ndarray | None = None):
    """Positions and values of the k best valid rows: a stable sort, ties to the lower row."""
    scores = score_matrix(queries, EmbeddingColumn(matrix), metric)
    keys = -scores if higher_is_better(metric) else scores
    positions, values = [], []
    for row_keys, row_scores in zip(keys, scores):
        order = [p for p in np.argsort(row_keys, kind="stable") if valid is None or valid[p]][:k]
        positions.append(order)
        values.append(row_scores[order])
    return positions, values


def data(metric: str, rows: int = 3000, dim: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    if metric == "jaccard":
        matrix = (rng.random((rows, dim)) < 0.2).astype(np.float32)
        queries = (rng.random((4, dim)) < 0.3).astype(np.float32)
    else:
        matrix = rng.standard_normal((rows, dim)).astype(np.float32)
        queries = rng.standard_normal((4, dim)).astype(np.float32)
    if rows > 2000:
        matrix[[100, 2000]] = matrix[50]  # exact ties, far apart
        queries[0] = matrix[50]
    return matrix, queries


def split(matrix: np.ndarray, valid: np.ndarray | None, size: int) -> list[Block]:
    return [
        Block(matrix[a : a + size], offset=a, valid=None if valid is None else valid[a : a + size],
              column=EmbeddingColumn(matrix[a : a + size]))
        for a in range(0, len(matrix), size)
    ]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("block_rows", [None, 64])
def test_blocked_search_equals_a_stable_full_sort(metric: str, block_rows: int | None):
    matrix, queries = data(metric)
    valid = np.random.default_rng(1).random(len(matrix)) < 0.8
    valid[[50, 100, 2000]] = True
    for mask in (None, valid):
        want_positions, want_values = reference(queries, matrix, metric, 15, mask)
        positions, values = search_blocks(queries, split(matrix, mask, 700), metric, 15, block_rows=block_rows)
        assert positions.tolist() == want_positions
        tolerance = 5e-3 if metric == "euclidean" else 1e-4  # the product form rounds differently near 0
        assert np.allclose(values, np.array(want_values), atol=tolerance)
    assert positions[0, :3].tolist() == [50, 100, 2000]  # the tied copies, in row order


@pytest.mark.parametrize("queries", [1, 3, 100])
def test_many_candidates_in_every_tile_still_select_exactly(queries: int):
    # ascending scores: every row beats the k-th best so far, in every tile
    matrix = np.arange(5000, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
    query = np.ones((queries, 4), np.float32)
    positions, values = search_blocks(query, [Block(matrix)], "dot", 7, block_rows=300)
    assert positions.tolist() == [list(range(4999, 4992, -1))] * queries


def test_gathered_blocks_report_their_own_positions():
    matrix, queries = data("dot")
    rows = np.arange(0, len(matrix), 3)
    positions, _ = search_blocks(queries, [Block(matrix[rows], positions=rows + 1000)], "dot", 5)
    want, _ = reference(queries, matrix[rows], "dot", 5)
    assert positions.tolist() == [[int(rows[p]) + 1000 for p in row] for row in want]


def test_fewer_valid_rows_than_the_limit_and_empty_input():
    matrix, queries = data("dot", rows=10)
    valid = np.zeros(10, dtype=bool)
    valid[[3, 7]] = True
    positions, values = search_blocks(queries, [Block(matrix, valid=valid)], "dot", 5)
    assert (positions[:, 2:] == -1).all() and np.isnan(values[:, 2:]).all()
    assert sorted(positions[0, :2].tolist()) == [3, 7]
    positions, values = search_blocks(queries, [], "dot", 3)
    assert positions.shape == (4, 3) and (positions == -1).all()
    positions, _ = search_blocks(queries, [Block(matrix)], "dot", 0)
    assert positions.shape == (4, 0)


def test_nan_rows_never_come_back():
    matrix, queries = data("dot", rows=500)
    matrix[10:400] = np.nan
    positions, _ = search_blocks(queries, [Block(matrix)], "dot", 20, block_rows=50)
    assert not np.isin(positions, np.arange(10, 400)).any() and (positions >= 0).all()


def test_errors_name_the_problem():
    matrix, queries = data("dot", rows=20)
    with pytest.raises(ValueError, match="unknown metric"):
        search_blocks(queries, [Block(matrix)], "manhattan", 3)
    with pytest.raises(ValueError, match="dimension 5"):
        search_blocks(np.ones((1, 5), np.float32), [Block(matrix)], "dot", 3)
    with pytest.raises(ValueError, match="0 or more"):
        search_blocks(queries, [Block(matrix)], "dot", -1)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 300),
    k=st.integers(1, 12),
    tile=st.integers(1, 64),
    metric=st.sampled_from(["dot", "cosine", "sqeuclidean"]),
    seed=st.integers(0, 1000),
)
def test_blocked_search_property(rows: int, k: int, tile: int, metric: str, seed: int):
    rng = np.random.default_rng(seed)
    matrix = rng.integers(-3, 4, size=(rows, 6)).astype(np.float32)  # small integers: many ties
    queries = rng.integers(-3, 4, size=(3, 6)).astype(np.float32)
    want, want_values = reference(queries, matrix, metric, k)
    got, values = search_blocks(queries, split(matrix, None, max(tile, 1)), metric, k, block_rows=max(tile // 2, 1))
    if metric == "cosine":  # two formulas round exact ties differently: compare the values
        assert np.allclose(values[:, : len(want[0])], np.array(want_values), atol=1e-6)
    else:  # small integers: both are exact, so ties must break alike
        assert [row[: len(w)] for row, w in zip(got.tolist(), want)] == want


def test_running_top_k_keeps_the_best_per_query():
    best = RunningTopK(2, 2)
    best.offer(np.array([[1.0, 5.0], [3.0, 1.0]], np.float32))
    best.offer(np.array([[2.0, 5.0], [0.0, 9.0]], np.float32), offset=2)
    assert best.positions.tolist() == [[1, 2], [3, 0]]  # query 1: 5 at row 0 ties 5 at row 2
    assert best.sims.tolist() == [[3.0, 2.0], [9.0, 5.0]]


def test_compaction_policy():
    assert plan_merge([5, 5, 5], max_segments=4, merge_factor=4) is None
    assert plan_merge([100, 1, 1, 1, 1], max_segments=8, merge_factor=4) == (1, 5)  # a tier of similar ones
    # forced by the count: the run that rewrites least per segment removed
    assert plan_merge([100, 1, 90, 1, 80], max_segments=4, merge_factor=3) == (1, 4)
    # written a few at a time, every document is rewritten only a few times
    for per_write in (1, 25, 250, 2500):
        sizes, rewritten = [], 0
        for _ in range(100_000 // per_write):
            sizes.append(per_write)
            while (plan := plan_merge(sizes, 32, 8)) is not None:
                start, stop = plan
                rewritten += sum(sizes[start:stop])
                sizes[start:stop] = [sum(sizes[start:stop])]
            assert len(sizes) <= 32
        assert rewritten <= 5 * 100_000
