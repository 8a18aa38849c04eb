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
        valid = view.masks[number]
        if conditions:
            matching = seg.filter_mask(conditions)
            valid = matching if valid is None else valid & matching
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
        candidates = scan(seg, centroids, queries, chosen, metric, valid, keep, report)
        if len(candidates):
            blocks.append(Block(seg.float_rows(candidates), positions=base + candidates))
            report.reranked += len(candidates)
    return blocks


CHUNK_ROWS = 65536
"""Rows of codes decoded to float32 at a time (about 100 MB at 384 dimensions)."""


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
    """The rows (sorted) that some query ranks among its ``keep`` best of the lists the
    batch probes (``chosen``: queries x nprobe), by the codes' estimate of the metric.

    A code ``c`` decodes to ``low + (c + 128) * step``, so ``q . x`` is about
    ``(q * step) . c + q . (low + 128 * step)``. The probed lists are decoded into one
    float32 matrix and scored by one product for the whole batch: per-list products are
    too small for BLAS (each wakes its threads), and a query scoring lists another query
    probed only finds more candidates."""
    scaled = np.ascontiguousarray(queries * centroids.step)
    constant = queries @ (centroids.low + 128.0 * centroids.step)
    lists = [number for number in np.unique(chosen).tolist() if seg.list_span(number)[1] > seg.list_span(number)[0]]
    report.lists_probed += int(chosen.size)
    best_values: list[np.ndarray] = []
    best_rows: list[np.ndarray] = []
    start = 0
    while start < len(lists):
        batch, rows = [], 0
        while start < len(lists) and (not batch or rows + np.diff(seg.list_span(lists[start]))[0] <= CHUNK_ROWS):
            batch.append(lists[start])
            rows += int(np.diff(seg.list_span(lists[start]))[0])
            start += 1
        decoded = np.empty((rows, seg.dim), np.float32)
        norms = np.empty(rows, np.float32)
        where = np.empty(rows, np.int64)
        at = 0
        for number, (codes, list_norms) in zip(batch, seg.list_codes(batch)):
            first, last = seg.list_span(number)
            decoded[at : at + last - first] = codes
            norms[at : at + last - first] = list_norms
            where[at : at + last - first] = np.arange(first, last)
            at += last - first
        tile = (decoded @ scaled[0])[:, None] if len(queries) == 1 else decoded @ scaled.T  # rows x queries
        tile += constant
        if metric == "cosine":
            with np.errstate(divide="ignore"):
                tile *= np.where(norms > 0, 1.0 / norms, 0.0).astype(np.float32)[:, None]
        elif metric in ("euclidean", "sqeuclidean"):
            tile *= 2.0
            tile -= (norms * norms)[:, None]
        if valid is not None:
            tile[~valid[where]] = -np.inf
        report.vectors_scanned += rows * len(queries)
        if rows > keep:
            top = np.argpartition(-tile, keep - 1, axis=0)[:keep]  # keep x queries
        else:
            top = np.broadcast_to(np.arange(rows)[:, None], (rows, len(queries)))
        values = np.take_along_axis(tile, top, axis=0)
        best_values.append(values)
        best_rows.append(where[top])
    if not best_values:
        return np.empty(0, np.int64)
    values, rows_found = np.concatenate(best_values), np.concatenate(best_rows)
    if len(values) > keep:
        top = np.argpartition(-values, keep - 1, axis=0)[:keep]
        values, rows_found = np.take_along_axis(values, top, axis=0), np.take_along_axis(rows_found, top, axis=0)
    return np.unique(rows_found[np.isfinite(values)])
