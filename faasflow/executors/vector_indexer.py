"""VectorIndexer: a durable shard of an exact vector index, as an executor.

Each shard keeps its documents in its own storage (a folder embedded, an S3 prefix on
AWS) as immutable segments plus a manifest swapped by conditional writes, so any number of
containers can write and read one shard, a cold one loads it in parallel ranged reads, and
a warm one loads only what is new. Searches are exact (numpy/BLAS, blocked with a running
top-k); with ``polling={'/search': 'ALL', '/index': 'ANY', ...}`` the engine merges the
shards' matches into the global top-k.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from faasflow.array import DocumentArray
from faasflow.codec import document_from_dict, document_to_dict, dumps
from faasflow.document import Document, NamedScore
from faasflow.executor import Executor, requests
from faasflow.index.shard import ShardIndex
from faasflow.search import METRICS

DEFAULT_LIMIT = 10
_PLAIN_FIELDS = frozenset({"id", "text", "uri", "mime_type", "tags"})


class VectorIndexer(Executor):
    """Upsert, delete and search documents by embedding, durably, one shard per instance.

    Endpoints: ``/index`` (upsert by id: the newest write wins), ``/search`` and ``/query``
    (fill each query's ``.matches``, best first, each hit scored ``scores[metric]``),
    ``/delete`` (by the docs' ids), ``/update`` (replace docs that exist; others are
    ignored), ``/count`` (returns ``{'count': n}``).

    Parameters of a search: ``limit`` (top-k, default ``limit`` below), ``filter``
    (``{'tag': value, ...}``: only docs whose tags equal every pair), ``metric`` (to search
    one request by another metric than the index's default).

    ``uses_with``: ``metric`` (``cosine``, ``dot``, ``euclidean``, ``sqeuclidean`` or
    ``jaccard``; default ``cosine``), ``limit`` (default 10), ``max_segments`` (compaction
    is forced above this many segments, default 32), ``merge_factor`` (segments merged at a
    time, default 8), ``return_embeddings`` (hits carry their embeddings; default False,
    which keeps answers small), ``max_staleness_s`` (a warm shard re-reads the manifest at
    most this often; default 0: before every request, so every write anywhere is seen).
    """

    def __init__(
        self,
        metric: str = "cosine",
        limit: int = DEFAULT_LIMIT,
        max_segments: int = 32,
        merge_factor: int = 8,
        return_embeddings: bool = False,
        max_staleness_s: float = 0.0,
        *args: Any,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.metric = _metric(metric)
        self.limit = _limit(limit)
        self.return_embeddings = bool(return_embeddings)
        self.shard_index = ShardIndex(
            self.storage,
            max_segments=int(max_segments),
            merge_factor=int(merge_factor),
            max_staleness_s=float(max_staleness_s),
        )

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs: Any) -> None:
        """Add or replace ``docs`` (by id); the docs pass on unchanged."""
        if docs:
            self.shard_index.upsert(*_rows(docs))

    @requests(on=["/search", "/query"])
    def search(self, docs: DocumentArray, parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Fill each query doc's ``matches`` with its nearest documents in this shard."""
        if not docs:
            return
        parameters = parameters or {}
        limit = _limit(parameters.get("limit", self.limit))
        metric = _metric(parameters.get("metric", self.metric))
        conditions = _conditions(parameters.get("filter"))
        queries = _embeddings(docs, "search with")
        found = self.shard_index.search(queries, limit, metric, conditions)
        for doc, hits in zip(docs, found):
            doc.matches = DocumentArray._wrap([self._hit(seg, row, value, metric) for seg, row, value in hits])

    def _hit(self, seg: Any, row: int, value: float, metric: str) -> Document:
        data = seg.doc_dict(row)
        # stored documents were encoded by this codec: plain ones skip its validation
        doc = Document(**data) if data.keys() <= _PLAIN_FIELDS else document_from_dict(data)
        if self.return_embeddings:
            doc.embedding = seg.embedding(row).copy()
        doc.scores[metric] = NamedScore(value, op_name=metric)
        return doc

    @requests(on="/delete")
    def delete(self, docs: DocumentArray, **kwargs: Any) -> None:
        """Delete the documents with the ids of ``docs`` (unknown ids are no error)."""
        if docs:
            self.shard_index.delete(list(dict.fromkeys(d.id for d in docs)))

    @requests(on="/update")
    def update(self, docs: DocumentArray, **kwargs: Any) -> None:
        """Replace the documents of ``docs`` that this shard holds; others are ignored."""
        if not docs:
            return
        held = self.shard_index.locate([d.id for d in docs])
        known = DocumentArray._wrap([d for d, where in zip(docs, held) if where is not None])
        if known:
            self.shard_index.upsert(*_rows(known))

    @requests(on="/count")
    def count(self, **kwargs: Any) -> dict[str, int]:
        return {"count": self.shard_index.count()}


def _metric(metric: Any) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return str(metric)


def _limit(limit: Any) -> int:
    try:
        value = int(limit)
    except (TypeError, ValueError):
        raise ValueError(f"limit must be a whole number of 0 or more, not {limit!r}") from None
    if isinstance(limit, bool) or value < 0 or (isinstance(limit, float) and value != limit):
        raise ValueError(f"limit must be a whole number of 0 or more, not {limit!r}")
    return value


def _conditions(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"filter must map tag names to values, like {{'lang': 'en'}}; got {value!r}")
    return dict(value) or None


def _embeddings(docs: DocumentArray, action: str) -> np.ndarray:
    column = docs.embedding_column()
    if column is None:
        missing = next(d.id for d in docs if d._embedding is None)
        raise ValueError(f"cannot {action} document {missing!r}: it has no embedding")
    matrix = column.matrix
    if matrix.ndim != 2:
        raise ValueError(f"embeddings must be vectors; document {docs[0].id!r} has shape {matrix.shape[1:]}")
    return matrix


def _rows(docs: DocumentArray) -> tuple[list[str], np.ndarray, list[bytes], list[dict] | None]:
    """A segment's rows from docs: ids (the last of repeated ids wins), float32 embeddings,
    each doc in the codec without its embedding, and tags if any doc has some."""
    matrix = _embeddings(docs, "index")
    members = docs._docs
    ids = [d.id for d in members]
    last = {doc_id: position for position, doc_id in enumerate(ids)}
    if len(last) != len(ids):
        keep = sorted(last.values())
        members = [members[p] for p in keep]
        ids = [ids[p] for p in keep]
        matrix = matrix[keep]
    encoded = [dumps(document_to_dict(d, embedding=False)) for d in members]
    tags = [d.tags for d in members] if any(d.tags for d in members) else None
    return ids, np.ascontiguousarray(matrix, dtype=np.float32), encoded, tags
