"""VectorIndexer: a durable shard of an exact vector index, as an executor.

Each shard keeps its documents in its own storage (a folder embedded, an S3 prefix on
AWS) as immutable segments plus a manifest swapped by conditional writes, so any number of
containers can write and read one shard, a cold one loads it in parallel ranged reads, and
a warm one loads only what is new. Searches are exact (numpy/BLAS, blocked with a running
top-k) on shards under ``ivf_min_rows`` rows, and approximate (IVF: ``nprobe`` lists scanned
on 8-bit codes, candidates re-ranked exactly) on larger ones unless ``exact`` is asked;
with ``polling={'/search': 'ALL', '/index': 'ANY', ...}`` the engine merges the
shards' matches into the global top-k. Each search batch is also measured for embedding
drift against the shard's centroid (``faasflow.executors.drift``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import orjson

from faasflow.array import DocumentArray
from faasflow.codec import document_from_dict, document_to_dict, dumps
from faasflow.document import Document, NamedScore
from faasflow.errors import BadRequest, FlowConfigError
from faasflow.executor import Executor, requests
from faasflow.executors import SEARCH_PARAMETERS
from faasflow.executors.drift import DriftMonitor
from faasflow.index.approximate import SearchReport
from faasflow.index.lists import DEFAULT_CACHE_BYTES
from faasflow.index.shard import DEFAULT_NPROBE, IVF_MIN_ROWS, RETRAIN_RATIO, NprobeOutOfRange, ShardIndex
from faasflow.search import METRICS
from faasflow.storage import Storage
from faasflow.storage.base import VersionConflict
from faasflow.storage.layout import executor_storage, shard_storage
from faasflow.storage.segments import DimensionMismatch

DEFAULT_LIMIT = 10
MAX_LIMIT = 2**31 - 1
"""The largest ``limit`` accepted: far above any real top-k; larger numbers are mistakes.
A shard also reserves room for no more hits than it holds documents."""
INDEX_RECORD = "index.json"
"""The index-level record, beside the executor's shards: ``{"dim": n}``, made by the first
write to any shard, so that every shard (an empty one too) refuses the same dimensions."""
_Default = TypeVar("_Default", int, None)
_PLAIN_FIELDS = frozenset({"id", "text", "uri", "mime_type", "tags"})
_REAL_KINDS = frozenset("iuf")
logger = logging.getLogger("faasflow.executors.vector_indexer")
_KIND_NAMES = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "byte strings", "O": "Python objects",
               "V": "structured records", "M": "dates", "m": "time spans"}


class VectorIndexer(Executor):
    """Upsert, delete and search documents by embedding, durably, one shard per instance.

    Endpoints: ``/index`` (upsert by id: the newest write wins), ``/search`` and ``/query``
    (fill each query's ``.matches``, best first, each hit scored ``scores[metric]``),
    ``/delete`` (by the docs' ids), ``/update`` (replace docs that exist; others are
    ignored), ``/count`` (returns ``{'count': n}``).

    Parameters of a search: ``limit`` (top-k: an integer from 0 to ``MAX_LIMIT``; absent
    or null: ``limit`` below), ``filter`` (``{'tag': value, ...}``: only docs whose tags
    equal every pair), ``metric`` (to search one request by another metric than the
    index's default; null: the default), ``nprobe`` (lists probed per indexed segment: from
    1 to the shard's list count; null: ``nprobe`` below), ``exact`` (true: score every row,
    as a shard without an index does), ``report`` (true: return what the search did,
    ``{'lists_probed', 'vectors_scanned', 'reranked', 'bytes_read', 'exact', 'nprobe'}``, in
    ``__results__``).

    A caller's mistake is a ``BadRequest`` naming the doc and field (or the parameter),
    and nothing of that request is stored, on any shard: every shard checks the whole
    request (``check_request``) before any writes. Every embedding must be a non-empty
    vector of real, finite numbers, and all of the index's embeddings (and queries), on
    every shard, have the dimension of its first write, which a record beside the shards
    keeps (``INDEX_RECORD``; each shard's manifest records it too).

    ``uses_with``: ``metric`` (``cosine``, ``dot``, ``euclidean``, ``sqeuclidean`` or
    ``jaccard``; default ``cosine``), ``limit`` (default 10), ``max_segments`` (compaction
    is forced above this many segments, default 32), ``merge_factor`` (segments merged at a
    time, default 8), ``return_embeddings`` (hits carry their embeddings; default False,
    which keeps answers small), ``max_staleness_s`` (a warm shard re-reads the manifest at
    most this often; default 0: before every request, so every write anywhere is seen),
    ``ivf_min_rows`` (a shard gets an IVF index once a write or merge of this many rows
    trains its centroids; default 50,000), ``nlist`` (lists per index; default about the
    square root of the training rows), ``nprobe`` (default 32), ``cache_bytes`` (the bound
    on lists and rows a shard keeps from object storage; default 1 GiB), ``retrain_ratio``
    (drift that makes the next large compaction retrain; default 1.5).

    ``status()`` reports embedding drift once this process has searched: ``query_similarity``
    (the mean cosine similarity of the queries to the shard's centroid, averaged over the
    last ``drift.RECENT_BATCHES`` batches), ``index_similarity`` (the indexed embeddings'
    own) and ``query_batches``; ``drift_note`` says why a figure is missing. In Lambda each
    batch is also an EMF record (``drift.QUERY_SIMILARITY_METRIC``, ``INDEX_SIMILARITY_METRIC``).
    """

    def __init__(
        self,
        metric: str = "cosine",
        limit: int = DEFAULT_LIMIT,
        max_segments: int = 32,
        merge_factor: int = 8,
        return_embeddings: bool = False,
        max_staleness_s: float = 0.0,
        ivf_min_rows: int = IVF_MIN_ROWS,
        nlist: int | None = None,
        nprobe: int = DEFAULT_NPROBE,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        retrain_ratio: float = RETRAIN_RATIO,
        *args: Any,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        try:
            self.metric = parse_metric(metric, "cosine")
            self.limit = parse_limit(limit, DEFAULT_LIMIT)
            nprobe = parse_nprobe(nprobe, DEFAULT_NPROBE)
            ivf_min_rows = _whole_number("ivf_min_rows", ivf_min_rows, 1)
            nlist = None if nlist is None else _whole_number("nlist", nlist, 1, MAX_NLIST)
            cache_bytes = _whole_number("cache_bytes", cache_bytes, 0)
            retrain_ratio = _ratio("retrain_ratio", retrain_ratio)
        except BadRequest as exc:  # configuration, not a request
            raise FlowConfigError(exc.message, field=exc.field) from None
        self.return_embeddings = bool(return_embeddings)
        self._index_dim: int | None = None  # once recorded it never changes: known, it is not read again
        self.shard_index = ShardIndex(
            self.storage,
            max_segments=int(max_segments),
            merge_factor=int(merge_factor),
            max_staleness_s=float(max_staleness_s),
            ivf_min_rows=ivf_min_rows,
            nlist=nlist,
            nprobe=nprobe,
            cache_bytes=cache_bytes,
            retrain_ratio=retrain_ratio,
        )
        self.drift = DriftMonitor(self.runtime_args.name, self.runtime_args.shard_id)
        self.search_metrics = SearchMetrics(self.runtime_args.name, self.runtime_args.shard_id)

    def check_request(self, endpoint: str, docs: DocumentArray, parameters: dict[str, Any]) -> None:
        """Refuse the whole request before any shard writes: the embeddings of ``/index``
        and ``/update`` (present, real, finite, one dimension: the index's), and a search's
        ``limit``, ``metric`` and ``filter``. A search's query embeddings are checked by the
        search itself, on every shard alike: it writes nothing, so there is nothing to keep
        from happening half-way, and checking them here too stacked them twice a shard."""
        binding = type(self).binding_for(endpoint)
        method = None if binding is None else binding.name
        if method == "search":
            self._search_options(parameters)
            _approximation(parameters)
        elif method in ("index", "update") and docs:
            self._checked(docs, method, "embedding")

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs: Any) -> None:
        """Add or replace ``docs`` (by id); the docs pass on unchanged."""
        if docs:
            self._upsert(docs._docs, self._checked(docs, "index", "embedding"))

    @requests(on=["/search", "/query"], parameters=SEARCH_PARAMETERS)
    def search(
        self, docs: DocumentArray, parameters: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any] | None:
        """Fill each query doc's ``matches`` with its nearest documents in this shard; with
        ``report``, return what the search did."""
        parameters = parameters or {}
        nprobe, exact, wants_report = _approximation(parameters)
        if not docs:
            return {"search": SearchReport().to_json()} if wants_report else None
        limit, metric, conditions = self._search_options(parameters)
        queries = self._checked(docs, "search with", "query embedding")
        report = SearchReport()
        try:
            found = self.shard_index.search(queries, limit, metric, conditions, nprobe=nprobe, exact=exact,
                                            report=report)
        except DimensionMismatch as exc:
            raise _dimension_refused(exc, docs[0].id, "query embedding") from None
        except NprobeOutOfRange as exc:
            raise BadRequest(str(exc), field="nprobe") from None
        read_before = self.shard_index.reads.bytes
        documents = _documents(found)
        report.bytes_read += self.shard_index.reads.bytes - read_before
        for doc, hits in zip(docs, found):
            doc.matches = DocumentArray._wrap([self._hit(documents[(id(seg), row)], seg, row, value, metric)
                                               for seg, row, value in hits])
        self._measure_drift(queries)
        self.search_metrics.observe(report, len(queries))
        return {"search": report.to_json()} if wants_report else None

    def _measure_drift(self, queries: np.ndarray) -> None:
        """Drift of this batch against the view the search just used (no read); a failure
        is logged, never the search's."""
        try:
            self.drift.observe(queries, self.shard_index.loaded_stats())
        except Exception:  # noqa: BLE001 - a measurement must not fail the search it measures
            logger.exception("embedding drift of shard %s not measured", self.runtime_args.shard_id)

    def status(self) -> dict[str, Any]:
        """Embedding drift (see the class), as of the data the last search saw: nothing
        before this process's first search, and no read, so a status check never loads
        (or waits on) a shard."""
        if not self.drift.seen:
            return {}
        return self.drift.reading(self.shard_index.loaded_stats()).report()

    def _hit(self, raw: bytes, seg: Any, row: int, value: float, metric: str) -> Document:
        data = orjson.loads(raw)
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
        matrix = self._checked(docs, "update", "embedding")  # every doc is checked, those the shard lacks too
        held = self.shard_index.locate([d.id for d in docs])
        keep = [position for position, where in enumerate(held) if where is not None]
        if keep:
            self._upsert([docs._docs[p] for p in keep], matrix[keep])

    @requests(on="/count")
    def count(self, **kwargs: Any) -> dict[str, int]:
        return {"count": self.shard_index.count()}

    def _search_options(self, parameters: Mapping[str, Any]) -> tuple[int, str, dict[str, Any] | None]:
        """A search's ``limit``, ``metric`` and ``filter`` conditions, or BadRequest."""
        return (parse_limit(parameters.get("limit"), self.limit), parse_metric(parameters.get("metric"), self.metric),
                _conditions(parameters.get("filter")))

    def _checked(self, docs: DocumentArray, action: str, what: str) -> np.ndarray:
        """The docs' embeddings as one float32 matrix (``_embeddings``), or BadRequest; of
        the index's dimension, once it has one."""
        matrix = _embeddings(docs, action, self.index_dim)
        expected = self.index_dim()
        if expected is not None and matrix.shape[1] != expected:
            raise BadRequest(f"{what} has {matrix.shape[1]} dimensions; this index holds {expected}-dimensional "
                             "embeddings", doc_id=docs[0].id, field="embedding")
        return matrix

    def index_dim(self) -> int | None:
        """The dimension of every shard's embeddings: the index's record, made by its first
        write. An index written before the record existed has its shards' manifests: the
        first dimension found there is recorded then. None: nothing written yet."""
        if self._index_dim is None:
            data = self._index_storage().get(INDEX_RECORD)
            if data is not None:
                self._index_dim = int(orjson.loads(data)["dim"])
            else:
                found = next((dim for dim in self._shard_dims() if dim is not None), None)
                if found is not None:
                    self._record_dim(found)
        return self._index_dim

    def _record_dim(self, dim: int) -> int:
        """Record ``dim`` as the index's unless a dimension is recorded already (a
        conditional create: of concurrent first writers, one wins); the recorded one."""
        if self._index_dim is not None:
            return self._index_dim
        storage = self._index_storage()
        recorded = dim
        try:
            storage.put_if_absent(INDEX_RECORD, orjson.dumps({"dim": dim}))
        except VersionConflict:  # another writer recorded one first
            data = storage.get(INDEX_RECORD)
            recorded = dim if data is None else int(orjson.loads(data)["dim"])
        self._index_dim = recorded
        return recorded

    def _shard_dims(self) -> Iterator[int | None]:
        """Each shard's own dimension (None for an empty one), this shard's first."""
        yield self.shard_index.dim()
        for shard in range(self.runtime_args.shards):
            if shard != self.runtime_args.shard_id:
                yield ShardIndex(shard_storage(self.runtime_args, shard)).dim()

    def _index_storage(self) -> Storage:
        storage = self.__dict__.get("_executor_storage")
        if storage is None:
            storage = self.__dict__["_executor_storage"] = executor_storage(self.runtime_args)
        return storage

    def _upsert(self, members: Sequence[Document], matrix: np.ndarray) -> None:
        """Store checked docs (``matrix``: their float32 embeddings) as one segment."""
        dim = int(matrix.shape[1])
        recorded = self._record_dim(dim)
        if recorded != dim:  # another request fixed the index's dimension since this one was checked
            raise _dimension_refused(DimensionMismatch(recorded, dim), members[0].id, "embedding", "index")
        try:
            self.shard_index.upsert(*_rows(members, matrix))
        except DimensionMismatch as exc:
            raise _dimension_refused(exc, members[0].id, "embedding") from None


def _dimension_refused(exc: DimensionMismatch, doc_id: str, what: str, holder: str = "shard") -> BadRequest:
    return BadRequest(f"{what} has {exc.given} dimensions; this {holder} holds {exc.expected}-dimensional embeddings",
                      doc_id=doc_id, field="embedding")


def parse_metric(value: Any, default: str) -> str:
    """A ``metric`` parameter: one of METRICS; absent or null means ``default``."""
    if value is None:
        return default
    if not isinstance(value, str) or value not in METRICS:
        raise BadRequest(f"unknown metric {value!r}; choose one of {', '.join(METRICS)}", field="metric")
    return value


def parse_limit(value: Any, default: _Default) -> int | _Default:
    """A ``limit`` parameter: an integer from 0 to MAX_LIMIT; absent or null means
    ``default``. Floats are refused, 10.0 too: the merge of sharded answers cuts only at an
    integer limit, so a float limit would hold per shard but not for the answer."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 0 to {MAX_LIMIT}, like 10; got {value!r}", field="limit")
    return int(value)


def parse_nprobe(value: Any, default: _Default) -> int | _Default:
    """An ``nprobe`` parameter: a positive integer (a shard refuses more than its lists);
    absent or null means ``default``."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"nprobe must be a positive integer (at most the shard's list count), like 32; got {value!r}",
                         field="nprobe")
    return int(value)


MAX_NLIST = 65536


def _whole_number(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer option from ``low`` (to ``high``), or BadRequest naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
            high is not None and value > high):
        limits = f"from {low}" + ("" if high is None else f" to {high}")
        raise BadRequest(f"{name} must be an integer {limits}; got {value!r}", field=name)
    return int(value)


def _ratio(name: str, value: Any) -> float:
    """A positive, finite number option, or BadRequest naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 < float(value) < math.inf:
        raise BadRequest(f"{name} must be a positive, finite number; got {value!r}", field=name)
    return float(value)


def _approximation(parameters: Mapping[str, Any]) -> tuple[int | None, bool, bool]:
    """A search's ``nprobe`` (None: the shard's), ``exact`` and ``report``, or BadRequest."""
    flags = []
    for name in ("exact", "report"):
        value = parameters.get(name)
        if value is not None and not isinstance(value, bool):
            raise BadRequest(f"{name} must be true or false; got {value!r}", field=name)
        flags.append(bool(value))
    return parse_nprobe(parameters.get("nprobe"), None), flags[0], flags[1]


def _documents(found: Sequence[Sequence[tuple[Any, int, float]]]) -> dict[tuple[int, int], bytes]:
    """The hits' stored documents, by (segment, row): an indexed segment read from object
    storage reads its hits' documents in parallel, not the whole section."""
    wanted: dict[int, tuple[Any, list[int]]] = {}
    for hits in found:
        for seg, row, _ in hits:
            wanted.setdefault(id(seg), (seg, []))[1].append(row)
    documents = {}
    for number, (seg, rows) in wanted.items():
        rows = sorted(set(rows))
        fetch = getattr(seg, "docs_json", None)
        values = fetch(rows) if fetch is not None else [seg.doc_json(row) for row in rows]
        documents.update(((number, row), value) for row, value in zip(rows, values))
    return documents


class SearchMetrics:
    """Totals of what this shard's searches did since the process started, and, in Lambda, one EMF
    record per search batch: ``ListsProbed``, ``VectorsScanned``, ``BytesRead``."""

    def __init__(self, executor: str, shard: int):
        from faasflow.executors.drift import on_lambda

        self.executor, self.shard = executor, shard
        self.emit = on_lambda()
        self.totals = {"searches": 0, "queries": 0, "lists_probed": 0, "vectors_scanned": 0, "bytes_read": 0}
        self._metrics: Any = None

    def observe(self, report: SearchReport, queries: int) -> None:
        totals = self.totals
        totals["searches"] += 1
        totals["queries"] += queries
        totals["lists_probed"] += report.lists_probed
        totals["vectors_scanned"] += report.vectors_scanned
        totals["bytes_read"] += report.bytes_read
        if self.emit:
            try:
                self._emit(report)
            except Exception:  # noqa: BLE001 - a measurement must not fail the search it measures
                logger.exception("search metrics of shard %s not emitted", self.shard)

    def _emit(self, report: SearchReport) -> None:
        from aws_lambda_powertools import Metrics
        from aws_lambda_powertools.metrics import MetricUnit

        from faasflow.metric_names import NAMESPACE

        if self._metrics is None:
            self._metrics = Metrics(namespace=NAMESPACE)
        metrics = self._metrics
        metrics.add_dimension(name="executor", value=self.executor)
        metrics.add_dimension(name="shard", value=str(self.shard))
        metrics.add_metric(name="ListsProbed", unit=MetricUnit.Count, value=report.lists_probed)
        metrics.add_metric(name="VectorsScanned", unit=MetricUnit.Count, value=report.vectors_scanned)
        metrics.add_metric(name="BytesRead", unit=MetricUnit.Bytes, value=report.bytes_read)
        metrics.flush_metrics()



def _conditions(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise BadRequest(f"filter must map tag names to values, like {{'lang': 'en'}}; got {value!r}", field="filter")
    try:
        orjson.dumps(dict(value))  # segments key their filter caches by this encoding
    except TypeError:
        raise BadRequest(f"filter values must be JSON values; got {value!r}", field="filter") from None
    return dict(value) or None


def _embeddings(docs: DocumentArray, action: str, index_dim: Callable[[], int | None]) -> np.ndarray:
    """The docs' embeddings as one float32 matrix, or BadRequest naming the first doc at
    fault: each must be a non-empty vector of real numbers, finite as float32, all of one
    dimension. The checks are a few vectorised passes over the matrix; docs are looked at
    one by one only once something is wrong, to name the one at fault (``index_dim`` tells
    which of a request's dimensions is the wrong one)."""
    try:
        column = docs.embedding_column()
    except (TypeError, ValueError):  # shapes or dtypes that do not stack
        column = None
    matrix = None if column is None else column.matrix
    # an invalid column: the docs' dtypes differ (a bool or complex one may hide in the stack)
    if matrix is None or matrix.ndim != 2 or matrix.shape[1] == 0 or matrix.dtype.kind not in _REAL_KINDS or (
        column is not None and not column.valid
    ):
        fault = _fault(docs._docs, action, index_dim)
        if fault is not None:
            raise fault
        if matrix is None:
            raise BadRequest("the request's embeddings do not combine into one matrix", doc_id=docs[0].id,
                             field="embedding")
    assert matrix is not None
    with np.errstate(over="ignore", invalid="ignore"):
        matrix = np.asarray(matrix, dtype=np.float32)
        # a non-finite squared length: a NaN or infinity (float64 values past float32's
        # range become one), or values so large that every score of the row would overflow
        bad = ~np.isfinite(np.einsum("ij,ij->i", matrix, matrix))
    if bad.any():
        row = int(np.argmax(bad))
        if np.isfinite(matrix[row]).all():
            message = "embedding values are too large: its squared length overflows float32"
        else:
            message = "embedding holds NaN or infinity (as float32, whose largest value is about 3.4e38)"
        raise BadRequest(message, doc_id=docs[row].id, field="embedding")
    return matrix


def _fault(members: Sequence[Document], action: str, index_dim: Callable[[], int | None]) -> BadRequest | None:
    """The BadRequest for the first doc whose embedding is missing or not a non-empty
    vector of real numbers, else for the first whose dimension differs from the index's
    (or, in an index still empty, from the request's first doc's); None if all are fine."""
    vectors: list[tuple[Document, np.ndarray]] = []
    for doc in members:
        embedding = doc._embedding
        if embedding is None:
            return BadRequest(f"cannot {action} document {doc.id!r}: it has no embedding", doc_id=doc.id,
                              field="embedding")
        if embedding.ndim != 1:
            what = "a scalar" if embedding.ndim == 0 else f"of shape {embedding.shape}"
            return BadRequest(f"embedding must be a vector (1-D), not {what}", doc_id=doc.id, field="embedding")
        if embedding.size == 0:
            return BadRequest("embedding is empty", doc_id=doc.id, field="embedding")
        kind = embedding.dtype.kind
        if kind not in _REAL_KINDS:
            return BadRequest(f"embedding must hold real numbers, not {_KIND_NAMES.get(kind, kind)} "
                              f"({embedding.dtype})", doc_id=doc.id, field="embedding")
        vectors.append((doc, embedding))
    if len({len(embedding) for _, embedding in vectors}) <= 1:
        return None
    expected = index_dim()
    if expected is not None:
        where = f"this index holds {expected}-dimensional embeddings"
    else:
        expected = len(vectors[0][1])
        where = f"document {vectors[0][0].id!r} of the same request has {expected}"
    doc, embedding = next((d, e) for d, e in vectors if len(e) != expected)
    return BadRequest(f"embedding has {len(embedding)} dimensions; {where}", doc_id=doc.id, field="embedding")


def _rows(
    members: Sequence[Document], matrix: np.ndarray
) -> tuple[list[str], np.ndarray, list[bytes], list[dict] | None]:
    """A segment's rows from checked docs and their float32 embeddings: ids (the last of
    repeated ids wins), the matrix, each doc in the codec without its embedding, and tags
    if any doc has some."""
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
