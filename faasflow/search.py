"""Exact nearest-neighbour kernels behind ``DocumentArray.find`` and the vector index.

Every kernel is numpy/BLAS: array operations release the GIL, so shards searched in
parallel threads really run in parallel. Distances sort ascending (best first); ``dot``
is a similarity and sorts descending. Values equal scipy's ``cdist`` for the same metric.
``search_blocks`` finds the same top-k over a matrix in blocks without a full score matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

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
    if len(queries) == 1 and metric in BLOCKED_METRICS:
        blocks = [block for block in blocks if len(block.matrix)]
        if blocks and sum(len(block.matrix) for block in blocks) <= FEW_ROWS:
            return _search_few(queries, blocks, metric, limit)
    scorer: _Scorer | None = None
    best: RunningTopK | None = None  # made with the scorer, of its dtype
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
        _check_shape(queries, matrix)
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
    if scorer is None or best is None:
        return np.full((len(queries), limit), -1, np.int64), np.full((len(queries), limit), np.nan)
    found = best.positions != _NO_POSITION
    positions = np.where(found, best.positions, -1)
    values = np.where(found, scorer.values(best.sims), np.nan)
    return positions, values


FEW_ROWS = 4096
"""A single query over at most this many rows (an approximate search's candidates) is
ranked by one sort: the running selection's setup would cost more than the rows."""


def _check_shape(queries: np.ndarray, matrix: np.ndarray) -> None:
    if matrix.ndim != 2 or matrix.shape[1] != queries.shape[1]:
        raise ValueError(
            f"query embeddings of dimension {queries.shape[1]} do not match the indexed "
            f"embeddings of shape {matrix.shape}"
        )


def _search_few(queries: np.ndarray, blocks: list[Block], metric: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """``search_blocks`` for one query over few rows: the same answer (rows scoring NaN or
    -inf never found, ties to the lower position), from one stable sort."""
    scorer = _Scorer(queries, metric, np.result_type(blocks[0].matrix.dtype, np.float32))
    sims, positions = [], []
    for block in blocks:
        _check_shape(queries, block.matrix)
        tile = scorer.similarities(block, 0, len(block.matrix))[:, 0]
        where = block.positions if block.positions is not None else np.arange(block.offset,
                                                                              block.offset + len(block.matrix))
        if block.valid is not None:
            tile, where = tile[block.valid], where[block.valid]
        sims.append(tile)
        positions.append(where)
    sim, position = np.concatenate(sims), np.concatenate(positions)
    found = sim > -np.inf  # NaN compares false too
    sim, position = sim[found], position[found]
    take = np.lexsort((position, -sim))[:limit]
    out_positions = np.full((1, limit), -1, np.int64)
    out_values = np.full((1, limit), np.nan, scorer.values(sim[:0][None, :]).dtype)
    out_positions[0, : len(take)] = position[take]
    out_values[0, : len(take)] = scorer.values(sim[take][None, :])[0]
    return out_positions, out_values


# --- DocumentArray.find: docarray v1's signature and results ------------------------------

_FIND_OPTIONS = frozenset({"normalization", "batch_size", "use_scipy", "device", "num_worker"})


def _query_matrix(query: Any) -> tuple[np.ndarray, list[str | None], bool]:
    """(queries, their ids or None, whether a single DocumentArray is answered)."""
    from faasflow.array import DocumentArray
    from faasflow.document import Document

    if isinstance(query, Document):
        query = DocumentArray._wrap([query])
    if isinstance(query, np.ndarray):
        if query.ndim == 1:
            return query[None, :], [None], True
        if query.ndim != 2:
            query = query.reshape((len(query), -1))
        return query, [None] * len(query), False
    if isinstance(query, (list, tuple)) and query and not isinstance(query[0], Document):
        return _query_matrix(np.asarray(query))
    docs = query if isinstance(query, DocumentArray) else DocumentArray(query)
    for doc in docs:
        if doc._embedding is None:
            raise ValueError(f"cannot search: query document {doc.id!r} has no embedding. "
                             "Did you forget to set .embedding/.embeddings?")
    if not docs:
        return np.empty((0, 0), dtype=np.float32), [], False
    return np.stack([np.ravel(d._embedding) for d in docs]), docs.ids, False


def _minmax(values: np.ndarray, target: tuple[float, float], lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    a, b = target
    scaled = (b - a) * (values - lows) / (highs - lows + 1e-7) + a
    return np.clip(scaled, *((a, b) if a < b else (b, a)))


def find(da: Any, query: Any, metric: Any = "cosine", limit: Any = 20, metric_name: str | None = None,
         exclude_self: bool = False, filter: Any = None, only_id: bool = False, index: str = "text",
         return_root: bool | None = False, on: str | None = None, **kwargs: Any) -> Any:
    """``DocumentArray.find`` (docarray v1): exhaustive nearest neighbours of ``query``."""
    from faasflow.array import DocumentArray
    from faasflow.document import Document, NamedScore

    unknown = set(kwargs) - _FIND_OPTIONS
    if unknown:
        raise TypeError(f"find() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    if on not in (None, "@r"):
        raise ValueError(f"No subindex available for on={on!r}: faasflow's DocumentArray has no subindices")
    if return_root:
        raise ValueError("find(return_root=True) needs subindices, which faasflow's DocumentArray does not have")
    if isinstance(query, dict) or query is None:
        # docarray v1's query language, evaluated here (the in-memory backend ignores limit)
        if isinstance(query, dict) and filter is not None:
            raise ValueError("filter and query cannot be both dict type, set only one for filtering")
        conditions = query if isinstance(query, dict) else filter
        if isinstance(conditions, str):
            raise ValueError("a filter string is a storage backend's query; faasflow's in-memory "
                             "DocumentArray takes docarray's query language, a dict")
        if not isinstance(conditions, (dict, list)):
            raise ValueError("filter must be dict or str when query is None (to search by vector, "
                             "give a query: a Document, a DocumentArray or an ndarray)")
        from faasflow.query_filter import filter_docs

        return DocumentArray._wrap(filter_docs(da._docs, conditions) if conditions else list(da._docs))
    if isinstance(query, str) or (isinstance(query, list) and query and isinstance(query[0], str)):
        raise NotImplementedError("search by text is not supported by this DocumentArray (in memory)")
    if filter is not None:
        raise ValueError("Filtered vector search is not supported for In-Memory backend")
    device = kwargs.get("device", "cpu")
    if device != "cpu":
        raise ValueError(f"find(device={device!r}) is not supported: faasflow searches on the CPU")
    batch_size = kwargs.get("batch_size")
    if batch_size is not None and batch_size <= 0:
        raise ValueError(f"`batch_size` must be larger than 0, receiving {batch_size}")
    use_scipy = bool(kwargs.get("use_scipy"))
    normalization = kwargs.get("normalization")
    if limit is not None:
        if limit <= 0:
            raise ValueError(f"`limit` must be larger than 0, receiving `{limit}`")
        limit = int(limit)
    if callable(metric):
        name = metric_name or getattr(metric, "__name__", "metric")
    elif isinstance(metric, str):
        name = metric_name or metric
        if metric not in METRICS and not use_scipy:
            raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}, "
                             "or pass use_scipy=True for scipy's metrics")
    else:
        raise TypeError(f"metric must be either string or a 2-arity function, received: {metric!r}")
    single_doc_query = isinstance(query, (Document, DocumentArray)) or (
        isinstance(query, (list, tuple)) and bool(query) and isinstance(query[0], Document))
    queries, query_ids, single = _query_matrix(query)
    if not single_doc_query:
        query_ids = [None] * len(query_ids)  # exclude_self only applies to Document queries (v1)
    if len(queries) == 0:
        return []
    if not da._docs:
        results = [DocumentArray() for _ in range(len(queries))]
        return results[0] if single else results
    column = da.embedding_column()
    if column is None:
        missing = next(d.id for d in da._docs if d._embedding is None)
        raise ValueError(f"cannot search: document {missing!r} has no embedding. "
                         "Did you forget to set .embedding/.embeddings?")
    try:
        if callable(metric):
            scores = np.asarray(metric(queries, column.matrix))
        elif use_scipy and metric not in ("cosine", "euclidean", "sqeuclidean"):
            from scipy.spatial.distance import cdist

            scores = cdist(queries, column.matrix, metric)
        else:
            scores = score_matrix(queries, column, metric)
    except ValueError as exc:
        raise ValueError(f"cannot search with metric {name!r}: {exc}") from None
    if scores.shape != (len(queries), len(da._docs)):
        raise ValueError(f"metric {name!r} returned shape {scores.shape}, expected {(len(queries), len(da._docs))}")
    want = len(da._docs) if limit is None else limit + (1 if exclude_self else 0)
    kernel_metric = metric if isinstance(metric, str) and metric in METRICS else "distance"
    indices, values = top_k(scores, want, kernel_metric)
    if normalization is not None:
        values = _minmax(values.astype(np.float64), tuple(normalization),
                         scores.min(axis=-1, keepdims=True), scores.max(axis=-1, keepdims=True))
    results = []
    for row, query_id in enumerate(query_ids):
        found = []
        for position, value in zip(indices[row].tolist(), values[row].tolist()):
            doc = da._docs[position]
            if exclude_self and query_id is not None and doc.id == query_id:
                continue
            if only_id:
                hit = Document(id=doc.id)
            else:
                hit = doc.copy()
                hit._matches = None  # no recursive matches (v1)
            hit.scores[name] = NamedScore(value=value, op_name=name)
            found.append(hit)
        results.append(DocumentArray._wrap(found if limit is None else found[:limit]))
    return results[0] if single else results
