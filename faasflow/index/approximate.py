"""Approximate search of a shard's view: probe each indexed segment's nearest lists, scan
them on their 8-bit codes, and hand the best candidates to the exact kernels.

The result of the scan is a set of ``Block``s (``faasflow.search``): for each indexed
segment, the float32 rows of its candidates (the union over the batch's queries, each query
keeping its ``rerank`` best by the codes' estimate); for each segment without lists (written
before the shard was indexed, or too small to bother) its rows as they are. ``search_blocks``
then scores them all exactly, so every value an answer carries is the exact one, and the
merge across shards is the one exact search uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from faasflow.index.ivf import CentroidSet, probe
from faasflow.index.lists import IvfSegment
from faasflow.search import Block

SMALL_SEGMENT = 2048
"""Indexed segments of at most this many rows are scored exactly: probing them saves less
than it costs."""
RERANK_FACTOR = 4
RERANK_MIN = 32
"""Each query re-ranks its ``max(RERANK_FACTOR * limit, RERANK_MIN)`` best candidates per
segment by the codes' estimate on their float32 vectors."""


@dataclass
class SearchReport:
    """What one search did, for ``__results__`` and metrics."""

    exact: bool = True
    nprobe: int | None = None
    lists_probed: int = 0  # (query, list) pairs scanned
    vectors_scanned: int = 0  # (query, row) pairs scored: on codes, and exactly
    reranked: int = 0  # rows whose float32 vectors were scored after a scan
    bytes_read: int = 0  # from object storage (cache misses)

    def to_json(self) -> dict[str, Any]:
        return {"exact": self.exact, "nprobe": self.nprobe, "lists_probed": self.lists_probed,
                "vectors_scanned": self.vectors_scanned, "reranked": self.reranked, "bytes_read": self.bytes_read}


def approximate_blocks(
    view: Any,
    queries: np.ndarray,
    metric: str,
    limit: int,
    conditions: Mapping[str, Any] | None,
    nprobe: int,
    centroid_set: Callable[[str], CentroidSet],
    report: SearchReport,
) -> list[Block]:
    """The blocks an approximate search of ``view`` (a ``faasflow.index.shard.View``) scores."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    keep = max(RERANK_FACTOR * limit, RERANK_MIN)
    probes: dict[str, np.ndarray] = {}
    blocks: list[Block] = []
    for number, seg in enumerate(view.segments):
        if not seg.rows:
            continue
        valid = view.valid(number, conditions)
        base = view.starts[number]
        if not isinstance(seg, IvfSegment) or seg.rows <= SMALL_SEGMENT:
            found = view.segment_blocks(number, valid)
            report.vectors_scanned += len(queries) * sum(len(b.matrix) for b in found)
            blocks.extend(found)
            continue
        centroids = centroid_set(seg.centroids_key)
        chosen = probes.get(seg.centroids_key)
        if chosen is None:
            chosen = probes[seg.centroids_key] = probe(queries, centroids, metric, nprobe)
        if valid is not None:
            count = int(np.count_nonzero(valid))
            if count == 0:
                continue
            if count <= seg.rows * chosen.shape[1] / seg.nlist:  # a selective filter: its rows, exactly
                rows = np.flatnonzero(valid)
                blocks.append(Block(seg.float_rows(rows), positions=base + rows))
                report.vectors_scanned += len(queries) * len(rows)
                continue
        exact_scan = seg.source.in_memory  # scored on float32 as they lie: nothing to re-rank
        candidates = scan(seg, centroids, queries, chosen, metric, valid, limit if exact_scan else keep, report)
        if len(candidates):
            blocks.append(Block(seg.float_rows(candidates, bounds=not exact_scan), positions=base + candidates))
            if not exact_scan:
                report.reranked += len(candidates)
    return blocks


def scan(
    seg: IvfSegment,
    centroids: CentroidSet,
    queries: np.ndarray,
    chosen: np.ndarray,
    metric: str,
    valid: np.ndarray | None,
    keep: int,
    report: SearchReport,
) -> np.ndarray:
    """The rows (sorted) that some query ranks among its ``keep`` best of the lists it
    probes (``chosen``: queries x nprobe).

    Each probed list is scored once, by one product for the queries that probe it (the
    way faiss groups an IVF search). Where the segment's bytes are in memory (a local
    memory map, or a segment this process wrote) the list's float32 rows are scored as
    they lie, exactly, with no copy: decoding codes would cost more than the product.
    Where they come from object storage, the list's int8 codes are (a quarter of the
    bytes to read and to cache): a code ``c`` decodes to ``low + (c + 128) * step``, so
    ``q . x`` is about ``(q * step) . c + q . (low + 128 * step)``."""
    in_memory = seg.source.in_memory
    if in_memory:
        prepared, constant = queries, None
    else:
        prepared = np.ascontiguousarray(queries * centroids.step)
        constant = queries @ (centroids.low + 128.0 * centroids.step)
    report.lists_probed += int(chosen.size)
    if len(queries) == 1:
        return _scan_one(seg, prepared[0], None if constant is None else float(constant[0]), np.sort(chosen[0]),
                         metric, valid, keep, report)
    lists, inverse = np.unique(chosen, return_inverse=True)
    numbers = [number for number in lists.tolist() if seg.row_starts[number] < seg.row_starts[number + 1]]
    if not in_memory:
        seg.list_codes(numbers)  # one parallel read of every list not cached yet
    # many queries: each list scored once for the queries that probe it
    inverse = inverse.reshape(-1)
    by_list = np.argsort(inverse, kind="stable") // chosen.shape[1]
    groups = dict(zip(lists.tolist(), np.split(by_list, np.cumsum(np.bincount(inverse, minlength=len(lists)))[:-1])))
    values: list[np.ndarray] = []
    found_rows: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for number in numbers:
        group = groups[number]
        first, last = seg.list_span(number)
        tile = _score_list(seg, number, prepared[group].T, None if constant is None else constant[group], metric, valid)
        count = last - first
        if count > keep:
            top = np.argpartition(-tile, keep - 1, axis=0)[:keep]  # keep x queries
            values.append(np.take_along_axis(tile, top, axis=0).ravel())
            found_rows.append((top + first).ravel())
            owners.append(np.broadcast_to(group, top.shape).ravel())
        else:
            values.append(tile.ravel())
            found_rows.append(np.repeat(np.arange(first, last), len(group)))
            owners.append(np.tile(group, count))
        report.vectors_scanned += count * len(group)
    if not values:
        return np.empty(0, np.int64)
    value, row, owner = np.concatenate(values), np.concatenate(found_rows), np.concatenate(owners)
    order = np.lexsort((-value, owner))  # each query's keep best of its lists
    owner, value, row = owner[order], value[order], row[order]
    rank = np.arange(len(owner)) - np.searchsorted(owner, np.arange(len(queries)))[owner]
    value, row = value[rank < keep], row[rank < keep]
    return np.unique(row[np.isfinite(value)])


def _scan_one(seg: IvfSegment, query: np.ndarray, constant: float | None, lists: np.ndarray, metric: str,
              valid: np.ndarray | None, keep: int, report: SearchReport) -> np.ndarray:
    """``scan`` for one query: each probed list's product, side by side, then one selection
    (per list only the product itself: lists are small, a few hundred rows)."""
    starts = seg.row_list
    numbers = [number for number in lists.tolist() if starts[number] < starts[number + 1]]
    if not numbers:
        return np.empty(0, np.int64)
    spans = [(starts[number], starts[number + 1]) for number in numbers]
    begins = np.fromiter((first for first, _ in spans), np.int64, len(spans))
    lengths = np.fromiter((last - first for first, last in spans), np.int64, len(spans))
    ends = np.cumsum(lengths)  # where each list's values end in ``value``
    if constant is None:
        matrix = seg.float_matrix(numbers)
        value = np.empty(int(ends[-1]), np.float32)
        filled = 0
        for first, last in spans:
            # einsum, not a BLAS product: for a list's rows read from memory it streams them
            # 1.5x to 2x as fast (measured for 100 to 800 rows of 384: 9 against 14 us, 51 against 101)
            np.einsum("ij,j->i", matrix[first:last], query, out=value[filled : filled + last - first])
            filled += last - first
    else:
        value = np.concatenate([codes.astype(np.float32) @ query for codes, _ in seg.list_codes(numbers)])
        value += constant
    row = np.repeat(begins - (ends - lengths), lengths) + np.arange(len(value))
    if metric != "dot":
        norms = np.concatenate([list_norms for _, list_norms in seg.list_codes(numbers)])
        _by_metric(value, norms, metric)
    if valid is not None:
        value[~valid[row]] = -np.inf
    report.vectors_scanned += len(value)
    if len(value) > keep:
        top = np.argpartition(-value, keep - 1)[:keep]
        value, row = value[top], row[top]
    return np.sort(row[np.isfinite(value)])  # rows of distinct lists: distinct


def _by_metric(tile: np.ndarray, norms: np.ndarray, metric: str) -> None:
    """Turn inner products (rows, or rows x queries) into the metric's similarity order, in
    place, given the rows' norms."""
    if tile.ndim == 2:
        norms = norms[:, None]
    if metric == "cosine":
        with np.errstate(divide="ignore"):
            tile *= np.where(norms > 0, 1.0 / norms, 0.0).astype(np.float32)
    else:  # euclidean, sqeuclidean: 2 q.x - |x|^2 orders rows as -|q - x|^2 does
        tile *= 2.0
        tile -= norms * norms


def _score_list(seg: IvfSegment, number: int, prepared: np.ndarray, constant: np.ndarray | None, metric: str,
                valid: np.ndarray | None) -> np.ndarray:
    """One list's scores for prepared queries (a vector: rows; dim x queries: rows x
    queries), ordered as the metric's similarity: exact on float32 rows in memory, else
    the codes' estimate (``constant``: each query's term for the codes' offset)."""
    first, last = seg.list_span(number)
    if constant is None:
        tile = seg.list_floats(number) @ prepared
    else:
        tile = seg.list_codes([number])[0][0].astype(np.float32) @ prepared
        tile += constant
    if metric != "dot":
        _by_metric(tile, seg.list_norms(number), metric)
    if valid is not None:
        tile[~valid[first:last]] = -np.inf
    return tile
