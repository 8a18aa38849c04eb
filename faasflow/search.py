"""Exact nearest-neighbour kernels behind ``DocumentArray.find`` and the vector index.

Every kernel is numpy/BLAS: array operations release the GIL, so shards searched in
parallel threads really run in parallel. Distances sort ascending (best first); ``dot``
is a similarity and sorts descending. Values equal scipy's ``cdist`` for the same metric.
``search_blocks`` finds the same top-k over a matrix in blocks without a full score matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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


# --- exact search over row blocks, with a running top-k -----------------------------------
#
# A shard's matrix comes in blocks (an index's segments, each in parts). Each block is
# scored by one BLAS product into a small (queries x rows) tile that stays in cache, and
# only rows that beat a query's current k-th best leave the tile: no full score matrix is
# ever made, and after the first blocks almost nothing passes, so selection costs a
# fraction of the product. Every metric is turned into a similarity (higher is better) so
# one selection serves them all; ties go to the lower position, as ``top_k`` does.

_NO_POSITION = np.iinfo(np.int64).max
BLOCKED_METRICS = frozenset({"cosine", "dot", "euclidean", "sqeuclidean"})
"""Metrics scored straight from the product; the others go through ``KERNELS`` per block."""


class Block:
    """Rows to search: ``matrix`` row ``i`` is at ``offset + i``, or at ``positions[i]``
    (gathered rows); rows where ``valid`` is False never come back. ``column`` caches the
    matrix's derived statistics (norms) across searches."""

    __slots__ = ("matrix", "offset", "positions", "valid", "column")

    def __init__(
        self,
        matrix: np.ndarray,
        offset: int = 0,
        positions: np.ndarray | None = None,
        valid: np.ndarray | None = None,
        column: EmbeddingColumn | None = None,
    ):
        self.matrix = matrix
        self.offset = offset
        self.positions = positions
        self.valid = valid
        self.column = column


def _inverse_norms(matrix: np.ndarray) -> np.ndarray:
    norms = _row_norms(matrix)
    with np.errstate(divide="ignore"):
        inverse = np.where(norms > 0, 1.0 / norms, 0.0)
    return inverse.astype(matrix.dtype, copy=False)


def _half_sq_norms(matrix: np.ndarray) -> np.ndarray:
    return 0.5 * _row_sq_norms(matrix)


class RunningTopK:
    """The best ``k`` (similarity, position) per query among the rows offered so far.

    Tiles of similarities are offered rows x queries (the layout the product writes), in
    increasing position order: a later row that only ties the current k-th best then loses
    to it, as it would in a stable sort.
    """

    def __init__(self, queries: int, k: int, dtype: np.dtype | type = np.float32):
        self.k = k
        self.sims = np.full((queries, k), -np.inf, dtype=dtype)
        self.positions = np.full((queries, k), _NO_POSITION, dtype=np.int64)
        self.threshold = np.full(queries, -np.inf, dtype=dtype)

    def offer(self, tile: np.ndarray, offset: int = 0, positions: np.ndarray | None = None) -> None:
        """Consider a (rows x queries) tile of similarities; tile row ``j`` is the row at
        ``positions[j]``, or at ``offset + j``."""
        k = self.k
        width, queries = tile.shape
        if k == 0 or width == 0:
            return
        above = tile > self.threshold  # one compare pass; usually a few hundred pass
        passed = np.count_nonzero(above)
        if not passed:
            return
        if width > k and passed > 2 * k * queries and 8 * passed > width * queries:
            # the first tile (nothing known yet): keep each query's k best of it, with any
            # ties of the k-th, and let the merge pick by position
            kth = np.partition(tile, width - k, axis=0)[width - k]
            if np.isnan(kth).any():
                kth = np.partition(np.nan_to_num(tile, nan=-np.inf), width - k, axis=0)[width - k]
            above &= tile >= kth
        # a flat scan of the mask is several times faster than a 2-D nonzero
        rows, columns = np.divmod(np.flatnonzero(above), queries)
        found = rows + offset if positions is None else positions[rows]
        self._merge(columns, tile[rows, columns], found)

    def _merge(self, queries: np.ndarray, sims: np.ndarray, positions: np.ndarray) -> None:
        """Merge candidates (query, similarity, position) into the best k of their queries."""
        k = self.k
        if len(self.sims) == 1:  # one query: no grouping needed
            sim = np.concatenate([self.sims[0], sims])
            position = np.concatenate([self.positions[0], positions])
            take = np.lexsort((position, -sim))[:k]
            self.sims[0], self.positions[0] = sim[take], position[take]
            self.threshold[0] = self.sims[0, -1]
            return
        touched, local = np.unique(queries, return_inverse=True)
        count = touched.size
        query = np.concatenate([np.repeat(np.arange(count), k), local.ravel()])
        sim = np.concatenate([self.sims[touched].ravel(), sims])
        position = np.concatenate([self.positions[touched].ravel(), positions])
        order = np.lexsort((position, -sim, query))
        sizes = np.bincount(query, minlength=count)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        take = order[(starts[:, None] + np.arange(k)).ravel()]
        best_sims = sim[take].reshape(count, k)
        self.sims[touched] = best_sims
        self.positions[touched] = position[take].reshape(count, k)
        self.threshold[touched] = best_sims[:, -1]


class _Scorer:
    """Similarities of prepared queries against blocks, and back to the metric's values."""

    def __init__(self, queries: np.ndarray, metric: str, dtype: np.dtype):
        self.metric = metric
        self.dtype = dtype if metric in BLOCKED_METRICS else np.dtype(np.float64)
        if metric in BLOCKED_METRICS:
            queries = np.ascontiguousarray(queries, dtype=dtype)
            if metric == "cosine":
                queries = queries * _inverse_norms(queries)[:, None]
            self.queries = queries
            self.queries_t = np.ascontiguousarray(queries.T)
            self.sq_norms = _row_sq_norms(queries) if metric in ("euclidean", "sqeuclidean") else None
        else:
            self.queries = queries

    def similarities(self, block: Block, start: int, stop: int) -> np.ndarray:
        """The (rows x queries) tile of rows ``start:stop`` of a block."""
        matrix = block.matrix[start:stop]
        metric = self.metric
        if metric not in BLOCKED_METRICS:
            column = block.column if block.column is not None and start == 0 and stop >= len(block.matrix) else None
            return (-score_matrix(self.queries, column or EmbeddingColumn(matrix), metric)).T
        if len(self.queries) == 1:
            tile = (matrix @ self.queries[0])[:, None]  # one query: a matrix-vector product
        else:
            tile = matrix @ self.queries_t  # rows x queries: one pass over the rows
        if metric != "dot":
            column = block.column or EmbeddingColumn(block.matrix)
            if metric == "cosine":
                tile *= column.derived("inverse_norms", _inverse_norms)[start:stop, None]
            else:
                tile -= column.derived("half_sq_norms", _half_sq_norms)[start:stop, None]
        return tile

    def values(self, sims: np.ndarray) -> np.ndarray:
        """Similarities (queries x k) back to the metric's own values."""
        metric = self.metric
        if metric == "dot":
            return sims
        if metric == "cosine":
            return 1.0 - sims
        if metric in ("euclidean", "sqeuclidean"):
            squared = np.maximum(self.sq_norms[:, None] - 2.0 * sims, 0.0)
            return np.sqrt(squared) if metric == "euclidean" else squared
        return -sims


def block_rows_for(queries: int) -> int:
    """Rows per scored tile: the (rows x queries) float32 tile stays within about 8 MB, in
    the last-level cache, and a tile is big enough that per-tile Python work is noise (one
    query: a whole block at once, one matrix-vector product)."""
    return max(4096, (1 << 21) // max(queries, 1))


def search_blocks(
    queries: np.ndarray,
    blocks: Iterable[Block],
    metric: str,
    limit: int,
    block_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``limit`` rows per query over ``blocks`` (offered in position order).

    Returns ``(positions, values)``, each (queries x limit), best first, values in the
    metric's own terms (distances ascending, ``dot`` descending); where fewer rows were
    valid than ``limit``, the tail has position -1 and value NaN. Equal to a stable sort of
    the full score matrix (ties to the lower position), without making it.
    """
    if metric not in KERNELS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    queries = np.asarray(queries)
    if queries.ndim == 1:
        queries = queries[None, :]
    scorer: _Scorer | None = None
    best = RunningTopK(len(queries), limit)  # replaced by one of the scorer's dtype
    rows_per_tile = block_rows or block_rows_for(len(queries))
    # Tiles start small and grow with the rows seen: a query's k-th best is known after a
    # few thousand rows, and from then on a tile of g times the rows seen lets about
    # k * ln(1 + g) rows per query through, so the selection never partitions a big tile.
    # Few queries can afford a large g (fewer, larger products); many double (g = 1).
    first_tile = max(256, 4 * limit, min(rows_per_tile // 8, 8192))
    growth = max(1, 64 // len(queries))
    seen = 0
    for block in blocks:
        matrix = block.matrix
        if len(matrix) == 0:
            continue
        if matrix.ndim != 2 or matrix.shape[1] != queries.shape[1]:
            raise ValueError(
                f"query embeddings of dimension {queries.shape[1]} do not match the indexed "
                f"embeddings of shape {matrix.shape}"
            )
        if scorer is None:
            scorer = _Scorer(queries, metric, np.result_type(matrix.dtype, np.float32))
            best = RunningTopK(len(queries), limit, scorer.dtype)
        start = 0
        while start < len(matrix):
            if metric in BLOCKED_METRICS:
                stop = min(start + min(rows_per_tile, max(first_tile, seen * growth)), len(matrix))
            else:
                stop = len(matrix)
            tile = scorer.similarities(block, start, stop)
            if block.valid is not None:
                invalid = np.flatnonzero(~block.valid[start:stop])
                if invalid.size:
                    tile[invalid] = -np.inf
            if block.positions is None:
                best.offer(tile, offset=block.offset + start)
            else:
                best.offer(tile, positions=block.positions[start:stop])
            seen += stop - start
            start = stop
    found = best.positions != _NO_POSITION
    positions = np.where(found, best.positions, -1)
    if scorer is None:
        return positions, np.full(positions.shape, np.nan)
    values = np.where(found, scorer.values(best.sims), np.nan)
    return positions, values
