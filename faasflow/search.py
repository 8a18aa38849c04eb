"""Exact nearest-neighbour kernels behind ``DocumentArray.find``.

Every kernel is numpy/BLAS: array operations release the GIL, so shards searched in
parallel threads really run in parallel. Distances sort ascending (best first); ``dot``
is a similarity and sorts descending. Values equal scipy's ``cdist`` for the same metric.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from faasflow.columns import EmbeddingColumn

METRICS = ("cosine", "euclidean", "sqeuclidean", "dot", "jaccard")
SIMILARITIES = frozenset({"dot"})  # higher is better; every other metric is a distance


def higher_is_better(metric: str) -> bool:
    return metric in SIMILARITIES


def _row_norms(matrix: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", matrix, matrix))


def _row_sq_norms(matrix: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", matrix, matrix)


def _nonzero_counts(matrix: np.ndarray) -> np.ndarray:
    return np.count_nonzero(matrix, axis=1)


def _cosine(queries: np.ndarray, column: EmbeddingColumn) -> np.ndarray:
    x_norms = column.derived("norms", _row_norms)
    q_norms = _row_norms(queries)
    denom = np.outer(q_norms, x_norms)
    with np.errstate(divide="ignore", invalid="ignore"):
        sims = (queries @ column.matrix.T) / denom
    sims[denom == 0] = 0.0
    return 1.0 - sims


def _sqeuclidean(queries: np.ndarray, column: EmbeddingColumn) -> np.ndarray:
    x_sq = column.derived("sq_norms", _row_sq_norms)
    dists = _row_sq_norms(queries)[:, None] + x_sq[None, :] - 2.0 * (queries @ column.matrix.T)
    return np.maximum(dists, 0.0, out=dists)


def _euclidean(queries: np.ndarray, column: EmbeddingColumn) -> np.ndarray:
    return np.sqrt(_sqeuclidean(queries, column))


def _dot(queries: np.ndarray, column: EmbeddingColumn) -> np.ndarray:
    return queries @ column.matrix.T


def _nonzero_pattern_by_column(matrix: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray((matrix != 0).T)


def _jaccard(queries: np.ndarray, column: EmbeddingColumn) -> np.ndarray:
    """scipy's jaccard on the non-zero patterns: 1 - |q and x| / |q or x| (0 when both are
    all zero). Only the query's non-zero dimensions are read, from a column-major boolean
    copy of the pattern (a quarter of the embeddings' size), which makes it cheap for
    sparse feature-hashing vectors."""
    pattern = column.derived("nonzero_by_column", _nonzero_pattern_by_column)
    x_nonzero = column.derived("nonzero", _nonzero_counts)
    out = np.empty((len(queries), pattern.shape[1]), dtype=np.float64)
    for row, query in enumerate(queries):
        dims = np.flatnonzero(query)
        both = pattern[dims].sum(axis=0, dtype=np.int32)
        union = len(dims) + x_nonzero - both
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = 1.0 - both / union
        dist[union == 0] = 0.0
        out[row] = dist
    return out


KERNELS: dict[str, Callable[[np.ndarray, EmbeddingColumn], np.ndarray]] = {
    "cosine": _cosine,
    "euclidean": _euclidean,
    "sqeuclidean": _sqeuclidean,
    "dot": _dot,
    "jaccard": _jaccard,
}


def score_matrix(queries: np.ndarray, column: EmbeddingColumn, metric: str) -> np.ndarray:
    """Scores of every query against every row: shape (n_queries, n_rows)."""
    kernel = KERNELS.get(metric)
    if kernel is None:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if queries.ndim == 1:
        queries = queries[None, :]
    if column.matrix.ndim != 2 or queries.shape[1] != column.matrix.shape[1]:
        raise ValueError(
            f"query embeddings of dimension {queries.shape[1]} do not match the indexed "
            f"embeddings of shape {column.matrix.shape}"
        )
    if metric != "jaccard":
        queries = queries.astype(np.result_type(queries.dtype, column.matrix.dtype, np.float32), copy=False)
    return kernel(queries, column)


def top_k(scores: np.ndarray, limit: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Best ``limit`` (indices, scores) per row of a score matrix, best first."""
    n = scores.shape[1]
    k = min(limit, n)
    keys = -scores if higher_is_better(metric) else scores
    if k == 0:
        empty = np.empty((len(scores), 0))
        return empty.astype(np.intp), empty
    if k < n:
        part = np.argpartition(keys, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), keys.shape)
    part_keys = np.take_along_axis(keys, part, axis=1)
    # ties break by row index, so every engine (and every shard layout) orders alike
    order = np.lexsort((part, part_keys), axis=-1)
    indices = np.take_along_axis(part, order, axis=1)
    return indices, np.take_along_axis(scores, indices, axis=1)
