"""The segment file: one immutable object holding a batch of documents and their embeddings.

Layout (all little-endian)::

    b"FFSEG01\\n" | u32 header length | header (JSON) | sections, each at a 64-byte boundary

The header gives the row count, the dimension and each section's ``[offset, length]``:

* ``ids``         JSON list of the rows' document ids (unique within a segment);
* ``embeddings``  the raw float32 matrix, rows x dim, C order: loading it is ``frombuffer``;
* ``doc_offsets`` u64, rows + 1: where each row's document starts in ``docs``;
* ``docs``        the documents in faasflow's codec (compact JSON), embeddings left out;
* ``tags``        JSON list of each row's tags (only when some row has tags): equality
                  filters read this one section, not every document;
* ``deleted``     JSON list of ids this segment deletes (tombstones) from older segments.

A segment of an IVF-indexed shard (``format`` 2, ``faasflow.index.lists``) has its rows
grouped by list (every section in that order) and two more sections: ``codes`` (each list's
8-bit codes and float32 norms, one ranged read a list) and ``lists`` (where each list's rows
and codes are, and CRC-32s of each list's codes and of each block of float32 rows); its
header's ``ivf`` names the centroid set the lists were assigned to. Format 1 segments stay
readable, and a shard may hold both.

The header may also hold ``stats``: the sums of the rows' embeddings (``faasflow.index.stats``),
so that a shard's centroid is known on load without a pass over every vector. It is a header
key, not a section, so readers that predate it still read the segment; a segment without it
(written before, or of a very wide dimension) has its sums computed from its vectors.

A segment both shadows older ones and adds rows: reading the manifest's segments oldest to
newest, a segment first removes its ``deleted`` ids and its own ids, then adds its rows.
Large segments are read as parallel ranged reads, each part of the matrix copied into its
rows as it lands.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np
import orjson

from faasflow.codec import dumps
from faasflow.columns import EmbeddingColumn
from faasflow.index.stats import EmbeddingStats
from faasflow.storage.base import Storage, StorageError

MAGIC = b"FFSEG01\n"
_PREFIX = struct.Struct("<8sI")
ALIGN = 64
DTYPE = np.dtype("<f4")
FIRST_READ = 1 << 20
"""Bytes read first: the header, and all of a small segment, in one request."""
PART_BYTES = 16 << 20
"""Size of the parallel ranged reads a large segment is loaded in (S3's guidance for
byte-range fetches is 8 to 16 MB)."""

_SECTIONS = ("ids", "embeddings", "doc_offsets", "docs", "tags", "deleted")
IVF_SECTIONS = (*_SECTIONS, "codes", "lists")
STATS_MAX_DIM = 16384
"""Wider embeddings keep no sums in the header (about 21 bytes a dimension), which must fit
in the first read; their sums are computed from the vectors on load."""


class SegmentMissing(StorageError):
    """A segment the manifest lists is gone (a compaction replaced it and it was collected)."""


class SegmentFormatError(StorageError):
    """The object is not a segment this version can read."""


def encode(
    ids: Sequence[str],
    embeddings: np.ndarray,
    docs: Sequence[bytes],
    tags: Sequence[Mapping[str, Any]] | None = None,
    deleted: Sequence[str] = (),
) -> bytes:
    """One segment file: ``docs`` are the rows' documents already encoded (codec JSON)."""
    if len(docs) != len(ids):
        raise ValueError("ids and docs must have one entry per row")
    lengths = np.fromiter((len(d) for d in docs), dtype=np.uint64, count=len(docs))
    return encode_sections(ids, embeddings, b"".join(docs), lengths, tags, deleted)


def encode_sections(
    ids: Sequence[str],
    embeddings: np.ndarray,
    docs: bytes,
    doc_lengths: np.ndarray,
    tags: Sequence[Mapping[str, Any]] | None = None,
    deleted: Sequence[str] = (),
    stats: EmbeddingStats | None = None,
    ivf: tuple[dict[str, Any], bytes, bytes] | None = None,
) -> bytes:
    """One segment file from the rows' documents already joined (``doc_lengths`` bytes each):
    a compaction copies whole sections of the segments it merges (and passes the sums of
    their rows as ``stats``, which are otherwise computed from ``embeddings``). ``ivf``:
    the ``(header entry, codes, lists)`` of a format 2 segment, whose rows are already
    grouped by list (``faasflow.index.lists.grouped``)."""
    rows = len(ids)
    matrix = np.ascontiguousarray(embeddings, dtype=DTYPE)
    if rows and (matrix.ndim != 2 or len(matrix) != rows):
        raise ValueError(f"{rows} ids need a matrix of {rows} rows, got shape {matrix.shape}")
    if len(doc_lengths) != rows or (tags is not None and len(tags) != rows):
        raise ValueError("ids, docs and tags must have one entry per row")
    dim = int(matrix.shape[1]) if rows else 0
    recorded = None
    if rows and dim <= STATS_MAX_DIM:
        recorded = (stats if stats is not None else EmbeddingStats.of(matrix)).to_header()
    offsets = np.zeros(rows + 1, dtype="<u8")
    np.cumsum(np.asarray(doc_lengths, dtype=np.uint64), out=offsets[1:])
    if int(offsets[-1]) != len(docs):
        raise ValueError(f"documents of {int(offsets[-1])} bytes in all were given {len(docs)} bytes")
    payloads = {
        "ids": orjson.dumps(list(ids)),
        "embeddings": matrix.data if rows else b"",
        "doc_offsets": offsets.tobytes(),
        "docs": docs,
        "tags": dumps(list(tags)) if tags is not None else b"",
        "deleted": orjson.dumps(list(deleted)),
    }
    names = _SECTIONS
    extra: dict[str, Any] = {}
    if ivf is not None:
        names = IVF_SECTIONS
        extra = {"format": 2, "ivf": ivf[0]}
        payloads["codes"], payloads["lists"] = ivf[1], ivf[2]
    # the header holds the sections' offsets, which depend on the header's own length:
    # reserve room for the widest offsets, then pad the header to it
    sizes = {name: len(memoryview(payloads[name]).cast("B")) for name in names}
    header = _header(rows, dim, sizes, 0, recorded, names, extra)
    start = _aligned(_PREFIX.size + len(header) + 32)
    header = _header(rows, dim, sizes, start, recorded, names, extra)
    assert len(header) <= start - _PREFIX.size, "segment header outgrew its reserved room"
    header = header.ljust(start - _PREFIX.size, b" ")
    parts: list[Any] = [_PREFIX.pack(MAGIC, len(header)), header]
    position = start
    for name in names:
        pad = _aligned(position) - position
        parts.append(b"\0" * pad)
        parts.append(payloads[name])
        position += pad + sizes[name]
    return b"".join(parts)


def _aligned(position: int) -> int:
    return (position + ALIGN - 1) // ALIGN * ALIGN


def _header(rows: int, dim: int, sizes: Mapping[str, int], start: int, stats: dict[str, Any] | None,
            names: Sequence[str] = _SECTIONS, extra: Mapping[str, Any] | None = None) -> bytes:
    sections = {}
    position = start
    for name in names:
        position = _aligned(position)
        sections[name] = [position, sizes[name]]
        position += sizes[name]
    header = {"format": 1, "rows": rows, "dim": dim, "dtype": DTYPE.str, "size": position, "sections": sections}
    if stats is not None:
        header["stats"] = stats
    if extra:
        header.update(extra)
    return orjson.dumps(header)


class Segment:
    """A loaded segment: ids, the matrix (in row-aligned parts), documents decoded on demand."""

    __slots__ = ("key", "ids", "dim", "parts", "part_starts", "doc_offsets", "docs", "deleted",
                 "_tags_raw", "_tags", "_columns", "_filters", "_lock", "_stats")

    def __init__(self, key: str, ids: list[str], dim: int, parts: list[np.ndarray], doc_offsets: np.ndarray,
                 docs: bytes, tags_raw: bytes, deleted: list[str], stats: EmbeddingStats | None = None):
        self.key = key
        self.ids = ids
        self.dim = dim
        self.parts = parts
        self.part_starts = np.cumsum([0] + [len(p) for p in parts])
        self.doc_offsets = doc_offsets
        self.docs = docs
        self.deleted = deleted
        self._tags_raw = tags_raw
        self._tags: list[dict] | None = None
        self._columns: list[EmbeddingColumn | None] = [None] * len(parts)
        self._filters: dict[bytes, np.ndarray] = {}
        self._lock = threading.Lock()
        self._stats = stats

    @property
    def rows(self) -> int:
        return len(self.ids)

    @property
    def stats(self) -> EmbeddingStats:
        """The sums of all its rows' embeddings: from the header, else computed once."""
        stats = self._stats
        if stats is None:
            stats = EmbeddingStats.empty(self.dim)
            for part in self.parts:
                stats = stats + EmbeddingStats.of(part)
            self._stats = stats
        return stats

    def column(self, part: int) -> EmbeddingColumn:
        """The part's matrix with its derived statistics (norms), computed once."""
        column = self._columns[part]
        if column is None:
            column = self._columns[part] = EmbeddingColumn(self.parts[part])
        return column

    def embedding(self, row: int) -> np.ndarray:
        part = int(np.searchsorted(self.part_starts, row, side="right")) - 1
        return self.parts[part][row - self.part_starts[part]]

    def embeddings(self, rows: np.ndarray) -> np.ndarray:
        """The given rows' embeddings as one new matrix."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.parts) == 1:
            return self.parts[0][rows]
        out = np.empty((len(rows), self.dim), DTYPE)
        which = np.searchsorted(self.part_starts, rows, side="right") - 1
        for part in np.unique(which):
            chosen = which == part
            out[chosen] = self.parts[part][rows[chosen] - self.part_starts[part]]
        return out

    def doc_json(self, row: int) -> bytes:
        return self.docs[int(self.doc_offsets[row]) : int(self.doc_offsets[row + 1])]

    def doc_lengths(self) -> np.ndarray:
        return np.diff(self.doc_offsets.astype(np.int64))

    def doc_dict(self, row: int) -> dict[str, Any]:
        return orjson.loads(self.docs[int(self.doc_offsets[row]) : int(self.doc_offsets[row + 1])])

    @property
    def has_tags(self) -> bool:
        return bool(self._tags_raw)

    @property
    def tags(self) -> list[dict]:
        """Each row's tags (parsed on first use: only equality filters need them)."""
        if self._tags is None:
            self._tags = orjson.loads(self._tags_raw) if self._tags_raw else [{}] * self.rows
        return self._tags

    def filter_mask(self, conditions: Mapping[str, Any]) -> np.ndarray:
        """Rows whose tags equal every ``{tag: value}`` of ``conditions``, cached per filter."""
        cache_key = orjson.dumps(conditions, option=orjson.OPT_SORT_KEYS)
        mask = self._filters.get(cache_key)
        if mask is None:
            items = list(conditions.items())
            missing = object()
            mask = np.fromiter(
                (all(t.get(name, missing) == value for name, value in items) if t else False for t in self.tags),
                dtype=bool,
                count=self.rows,
            )
            with self._lock:
                if len(self._filters) >= 64:  # filters are few in practice: bound the memory anyway
                    self._filters.clear()
                self._filters[cache_key] = mask
        return mask


SegmentOpener = Callable[[str, dict[str, Any], "bytes | memoryview | None", "Storage | None"], Segment]
_OPENERS: dict[int, SegmentOpener] = {}
"""Readers of the other segment formats by number: ``faasflow.index.lists`` adds format 2
(rows grouped by IVF list) when it is imported, as ``faasflow.index`` does."""


def register_format(number: int, opener: SegmentOpener) -> None:
    """Read segments of format ``number`` with ``opener(key, header, data, storage)``:
    ``data`` is the whole file when it is at hand, else ``storage`` holds it."""
    _OPENERS[number] = opener


def decode(key: str, data: bytes | memoryview) -> Segment:
    """A segment from its whole file, without copying the matrix."""
    header = _parse_header(key, data)
    opener = _OPENERS.get(header.get("format", 1))
    if opener is not None:
        return opener(key, header, data, None)
    return _assemble(key, header, lambda name: _slice(data, header, name), None)


def _parse_header(key: str, first: bytes) -> dict[str, Any]:
    if len(first) < _PREFIX.size:
        raise SegmentFormatError(f"segment {key} is truncated ({len(first)} bytes)")
    magic, length = _PREFIX.unpack_from(first)
    if magic != MAGIC:
        raise SegmentFormatError(f"{key} is not a faasflow index segment (format 1 or 2)")
    if _PREFIX.size + length > len(first):
        raise SegmentFormatError(f"segment {key} has a header of {length} bytes past the first read")
    try:
        header = orjson.loads(first[_PREFIX.size : _PREFIX.size + length])
        names = IVF_SECTIONS if header.get("format", 1) == 2 else _SECTIONS
        if header["dtype"] != DTYPE.str or set(header["sections"]) != set(names):
            raise ValueError("unknown dtype or sections")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SegmentFormatError(f"segment {key} has an invalid header: {exc}") from None
    return header


def _slice(data: bytes | memoryview, header: dict[str, Any], name: str) -> memoryview:
    offset, length = header["sections"][name]
    view = memoryview(data)[offset : offset + length]
    if len(view) != length:
        raise SegmentFormatError(f"segment section {name!r} is truncated")
    return view


def _assemble(
    key: str,
    header: dict[str, Any],
    section: Callable[[str], memoryview | bytes],
    parts: list[np.ndarray] | None,
) -> Segment:
    try:
        return _sections(key, header, section, parts)
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:  # damage inside a section
        raise SegmentFormatError(f"segment {key} is damaged: {type(exc).__name__}: {exc}") from None


def _sections(
    key: str,
    header: dict[str, Any],
    section: Callable[[str], memoryview | bytes],
    parts: list[np.ndarray] | None,
) -> Segment:
    rows, dim = int(header["rows"]), int(header["dim"])
    ids = orjson.loads(section("ids"))
    if len(ids) != rows:
        raise SegmentFormatError(f"segment {key} lists {len(ids)} ids for {rows} rows")
    if parts is None:
        raw = section("embeddings")
        parts = [np.frombuffer(raw, dtype=DTYPE, count=rows * dim).reshape(rows, dim)] if rows else []
    offsets = np.frombuffer(section("doc_offsets"), dtype="<u8", count=rows + 1)
    stats = EmbeddingStats.from_header(header.get("stats"), rows, dim) if rows else None
    return Segment(
        key,
        ids,
        dim,
        parts,
        offsets,
        bytes(section("docs")),
        bytes(section("tags")),
        orjson.loads(section("deleted")),
        stats,
    )


def salvage(key: str, data: bytes) -> tuple[list[str] | None, list[str] | None]:
    """The ids and the deleted ids of a damaged segment, each None when it cannot be read:
    a truncated segment usually keeps its header and its first section, the ids."""
    try:
        header = _parse_header(key, data[:FIRST_READ])
    except SegmentFormatError:
        return None, None
    found: list[list[str] | None] = []
    for name in ("ids", "deleted"):
        try:
            value = orjson.loads(_slice(data, header, name))
            found.append([str(item) for item in value] if isinstance(value, list) else None)
        except (SegmentFormatError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            found.append(None)
    return found[0], found[1]


@cache  # made once; a race can only make a spare pool, and pools start threads on first use
def _io_pool() -> ThreadPoolExecutor:
    """Threads for ranged reads (they wait on the network, not the GIL)."""
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="faasflow-segment-io")


def load(storage: Storage, key: str, part_bytes: int = PART_BYTES) -> Segment:
    """Read a segment: one request for a small one; for a large one the header first, then
    every section and the matrix in ``part_bytes`` parts, in parallel."""
    first = storage.get_range(key, 0, FIRST_READ)
    if first is None:
        raise SegmentMissing(f"segment {storage.url}{key} is missing")
    header = _parse_header(key, first)
    size = int(header["size"])
    opener = _OPENERS.get(header.get("format", 1))
    if opener is not None:  # format 2: lists are read as searches probe them
        return opener(key, header, first if size <= len(first) else None, storage)
    if size <= len(first):
        return decode(key, first)

    def read(offset: int, length: int) -> bytes:
        if offset + length <= len(first):
            return first[offset : offset + length]
        data = storage.get_range(key, offset, length)
        if data is None:
            raise SegmentMissing(f"segment {storage.url}{key} is missing")
        if len(data) != length:
            raise SegmentFormatError(f"segment {storage.url}{key} is truncated")
        return data

    rows, dim = int(header["rows"]), int(header["dim"])
    pool = _io_pool()
    futures = {
        name: pool.submit(read, *header["sections"][name])
        for name in _SECTIONS
        if name != "embeddings"
    }
    # the matrix arrives in parallel parts, each copied into its rows as it lands: one
    # matrix (one product per search, not one per part) at no extra cost on the way
    matrix = np.empty((rows, dim), dtype=DTYPE)
    offset = header["sections"]["embeddings"][0]
    row_bytes = max(dim * DTYPE.itemsize, 1)
    rows_per_part = max(part_bytes // row_bytes, 1)

    def fill(start: int) -> None:
        count = min(rows_per_part, rows - start)
        data = read(offset + start * row_bytes, count * row_bytes)
        matrix[start : start + count] = np.frombuffer(data, dtype=DTYPE).reshape(count, dim)

    parts = [pool.submit(fill, start) for start in range(0, rows, rows_per_part)]
    for part in parts:
        part.result()
    sections = {name: future.result() for name, future in futures.items()}
    return _assemble(key, header, sections.__getitem__, [matrix] if rows else [])
