"""Segments whose rows are grouped by IVF list (format 2): writing them, and reading only
the lists a search probes.

A format 2 segment holds its rows sorted by list, so that each list is a contiguous run of
rows in every section. Its ``codes`` section holds, per list, the rows' int8 codes and then
their float32 norms (one ranged read a list, at a 64-byte boundary); its ``lists`` section
holds ``u64 row_starts[nlist + 1]``, ``u64 code_starts[nlist + 1]`` (byte offsets in
``codes``), ``u32 code_crc[nlist]`` (CRC-32 of each list's codes and norms) and
``u32 block_crc[blocks]`` (CRC-32 of each ``BLOCK_ROWS`` rows of the float32 matrix). The
header's ``ivf`` entry gives the centroid set's key, ``nlist``, ``sse`` (the rows' summed
squared distance to their centroids) and ``lists_crc32`` (of the ``lists`` section).

Reading: a segment opened from storage reads its header, its ``lists`` and ``deleted``
sections and nothing else; a probed list's codes, a re-ranked row's float32 block, a hit's
document are each read when first needed (ranged reads, in parallel, through the shard's
``ListCache``, bounded in bytes), and every one is checked against its CRC-32 first. A local
segment is a memory map instead (its pages are the OS's cache), checked the same way on
first touch; a segment this process just wrote is its own bytes. Whole sections (ids, the
matrix, documents) are read only when something needs them all: an exact search, a
compaction, an update's lookup.
"""

from __future__ import annotations

import mmap
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
import orjson

from faasflow.index import segment as segment_file
from faasflow.index.ivf import CentroidSet
from faasflow.index.segment import DTYPE, PART_BYTES, Segment, SegmentFormatError, SegmentMissing
from faasflow.index.stats import EmbeddingStats
from faasflow.storage.base import Storage

BLOCK_ROWS = 32
"""Float32 rows per checksummed block: a re-ranked row costs one read of this many rows."""
LIST_ALIGN = 64
BOUNDS_RUN = 256
"""Re-ranked rows this close share one ranged read of their documents' bounds (2 KiB)."""
DEFAULT_CACHE_BYTES = 1 << 30
"""A shard's list cache (codes and float32 blocks read from object storage), by default."""


_ZEROS = bytes(LIST_ALIGN)


class ListsDamaged(SegmentFormatError):
    """A list, a block of rows or the list table of a segment fails its CRC-32."""


# --- writing ---------------------------------------------------------------------------


def grouped(
    key: str,
    centroids: CentroidSet,
    ids: Sequence[str],
    matrix: np.ndarray,
    docs: bytes | memoryview,
    doc_lengths: np.ndarray,
    tags: Sequence[Mapping[str, Any]] | None,
    deleted: Sequence[str] = (),
    stats: EmbeddingStats | None = None,
    lists: np.ndarray | None = None,
) -> tuple[bytes, float]:
    """A format 2 segment of these rows, assigned to ``centroids`` (stored under ``key``),
    and the rows' summed squared distance to their centroids. ``lists``: each row's list,
    when known (rows merged from segments of the same set keep theirs)."""
    matrix = np.ascontiguousarray(matrix, dtype=DTYPE)
    rows = len(ids)
    if lists is None:
        lists, dists = centroids.assign(matrix)
    else:
        residual = matrix - centroids.centroids[lists]
        dists = np.einsum("ij,ij->i", residual, residual)
    nlist = centroids.nlist
    order = np.argsort(lists, kind="stable")
    counts = np.bincount(lists, minlength=nlist)
    row_starts = np.zeros(nlist + 1, "<u8")
    np.cumsum(counts, out=row_starts[1:])
    if rows and not np.array_equal(order, np.arange(rows)):
        lengths = np.asarray(doc_lengths, dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        view = memoryview(docs)
        docs = b"".join([view[offsets[r] : offsets[r + 1]] for r in order.tolist()])
        doc_lengths = lengths[order]
        ids = [ids[r] for r in order.tolist()]
        tags = None if tags is None else [tags[r] for r in order.tolist()]
        matrix = matrix[order]
    codes = centroids.codes(matrix)
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix)).astype(DTYPE)
    # each list: its rows' codes, then their norms, padded to LIST_ALIGN (an empty list: nothing)
    code_bytes = memoryview(codes).cast("B") if rows else memoryview(b"")  # type: ignore[arg-type]
    norm_bytes = memoryview(norms).cast("B") if rows else memoryview(b"")  # type: ignore[arg-type]
    dim = matrix.shape[1] if rows else 0
    sizes = counts.astype(np.int64) * (dim + DTYPE.itemsize)
    padded = sizes + (-sizes) % LIST_ALIGN
    code_starts = np.zeros(nlist + 1, "<u8")
    np.cumsum(padded, out=code_starts[1:])
    code_crc = np.zeros(nlist, "<u4")
    parts: list[bytes | memoryview] = []
    starts = row_starts.tolist()
    for number in np.flatnonzero(counts).tolist():
        first, last = starts[number], starts[number + 1]
        row_codes = code_bytes[first * dim : last * dim]
        row_norms = norm_bytes[first * DTYPE.itemsize : last * DTYPE.itemsize]
        code_crc[number] = zlib.crc32(row_norms, zlib.crc32(row_codes))
        parts.extend((row_codes, row_norms, _ZEROS[: int(padded[number] - sizes[number])]))
    raw = memoryview(matrix).cast("B") if rows else memoryview(b"")  # type: ignore[arg-type]
    block_bytes = BLOCK_ROWS * dim * DTYPE.itemsize
    blocks = -(-rows // BLOCK_ROWS)
    block_crc = np.fromiter((zlib.crc32(raw[b * block_bytes : (b + 1) * block_bytes]) for b in range(blocks)),
                            dtype="<u4", count=blocks)
    table = b"".join([row_starts.tobytes(), code_starts.tobytes(), code_crc.tobytes(), block_crc.tobytes()])
    sse = float(dists.sum(dtype=np.float64))
    entry = {"centroids": key, "nlist": nlist, "sse": sse, "lists_crc32": zlib.crc32(table),
             "block_rows": BLOCK_ROWS, "code": "sq8"}
    data = segment_file.encode_sections(ids, matrix, bytes(docs), np.asarray(doc_lengths, dtype=np.uint64), tags,
                                        deleted, stats if stats is not None else None,
                                        ivf=(entry, b"".join(parts), table))
    return data, sse


# --- reading: where the bytes come from --------------------------------------------------


class ReadCounter:
    """Bytes and requests read from object storage by one shard (searches report the
    difference across their run)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.reads = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.bytes += count
            self.reads += 1


class ListCache:
    """Least recently used pieces of segments (a list's codes, a block of float32 rows, a
    hit's document) read from object storage, bounded by ``budget`` bytes for the whole shard."""

    def __init__(self, budget: int = DEFAULT_CACHE_BYTES):
        self.budget = max(int(budget), 0)
        self.used = 0
        self._items: OrderedDict[tuple[str, str, int], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, int]) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: tuple[str, str, int], value: Any, size: int) -> None:
        with self._lock:
            if size > self.budget or key in self._items:
                return
            self._items[key] = (value, size)
            self.used += size
            while self.used > self.budget:
                _, (_, freed) = self._items.popitem(last=False)
                self.used -= freed

    def drop(self, segment_key: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == segment_key]:
                self.used -= self._items.pop(key)[1]


class _Source:
    """The bytes of one stored segment: ``read`` returns exactly ``length`` bytes."""

    in_memory = False

    def read(self, offset: int, length: int) -> bytes | memoryview:
        raise NotImplementedError

    def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[bytes | memoryview]:
        return [self.read(offset, length) for offset, length in ranges]


class _MemorySource(_Source):
    """A buffer: the bytes this process wrote, or a memory map of a local file."""

    in_memory = True

    def __init__(self, buffer: bytes | memoryview | mmap.mmap, trusted: bool):
        self.buffer = memoryview(buffer)
        self.trusted = trusted  # our own write: nothing to check

    def read(self, offset: int, length: int) -> memoryview:
        view = self.buffer[offset : offset + length]
        if len(view) != length:
            raise SegmentFormatError(f"segment is truncated at {offset + length} bytes")
        return view


class _RangedSource(_Source):
    """Ranged GETs, in parallel on the segment I/O pool."""

    def __init__(self, storage: Storage, key: str, counter: ReadCounter | None):
        self.storage, self.key, self.counter = storage, key, counter
        self.opening = 0  # bytes read before a shard's counter was attached

    def read(self, offset: int, length: int) -> bytes:
        if length == 0:
            return b""
        data = self.storage.get_range(self.key, offset, length)
        if data is None:
            raise SegmentMissing(f"segment {self.storage.url}{self.key} is missing")
        if len(data) != length:
            raise SegmentFormatError(f"segment {self.storage.url}{self.key} is truncated")
        if self.counter is not None:
            self.counter.add(length)
        else:
            self.opening += length
        return data

    def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[bytes | memoryview]:
        if len(ranges) <= 1:
            return [self.read(offset, length) for offset, length in ranges]
        pool = segment_file._io_pool()
        futures: list[Future[bytes]] = [pool.submit(self.read, offset, length) for offset, length in ranges]
        return [future.result() for future in futures]


def _local_map(storage: Storage, key: str) -> mmap.mmap | None:
    """A read-only memory map of a local segment file (None for other storages)."""
    path_of: Callable[[str], Any] | None = getattr(storage, "file_path", None)
    if path_of is None:
        return None
    try:
        with open(path_of(key), "rb") as handle:
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError):  # ValueError: an empty file
        return None


def open_segment(key: str, header: dict[str, Any], data: bytes | memoryview | None = None,
                 storage: Storage | None = None) -> IvfSegment:
    """A format 2 segment: over ``data`` when it is the whole file (ours, or a small one
    read in one request: trusted only when there is no storage, i.e. our own write), else a
    local memory map, else ranged reads of ``storage``."""
    where = storage.url if storage is not None else ""
    if data is not None:
        source: _Source = _MemorySource(data, trusted=storage is None)
    else:
        assert storage is not None
        mapped = _local_map(storage, key)
        source = _MemorySource(mapped, trusted=False) if mapped is not None else _RangedSource(storage, key, None)
    return IvfSegment(key, header, source, where)


# --- reading: the segment ----------------------------------------------------------------


class IvfSegment(Segment):
    """A format 2 segment: lists read as probed, whole sections only on demand."""

    __slots__ = ("header", "source", "where", "centroids_key", "nlist", "row_starts", "row_list", "code_starts",
                 "code_crc", "block_crc", "cache", "_rows", "_lazy", "_checked_lists", "_checked_blocks",
                 "_checked_float_lists", "_part_bytes")

    def __init__(self, key: str, header: dict[str, Any], source: _Source, where: str = ""):
        self.key = key
        self.header = header
        self.source = source
        self.where = where
        self.cache: ListCache | None = None
        self._part_bytes = PART_BYTES
        self._rows = int(header["rows"])
        self.dim = int(header["dim"])
        self._lazy: dict[str, Any] = {}
        self._filters = {}
        self._lock = threading.Lock()
        self._tags = None
        self._columns = [None]
        ivf = header["ivf"]
        self.centroids_key = str(ivf["centroids"])
        self.nlist = int(ivf["nlist"])
        stats = header.get("stats")
        self._stats = EmbeddingStats.from_header(stats, self._rows, self.dim) if stats and self._rows else None
        table, deleted = source.read_many([tuple(header["sections"][name]) for name in ("lists", "deleted")])
        if zlib.crc32(table) != int(ivf["lists_crc32"]):
            raise ListsDamaged(self._damage("its list table fails its CRC-32"))
        try:
            self.deleted = orjson.loads(deleted)
        except orjson.JSONDecodeError as exc:
            raise SegmentFormatError(self._damage(f"its deletions are not JSON: {exc}")) from None
        nlist, blocks = self.nlist, -(-self._rows // BLOCK_ROWS)
        array = np.frombuffer(table, dtype=np.uint8)
        self.row_starts = array[: 8 * (nlist + 1)].view("<u8").astype(np.int64)
        self.row_list: list[int] = self.row_starts.tolist()
        self.code_starts = array[8 * (nlist + 1) : 16 * (nlist + 1)].view("<u8").astype(np.int64)
        end = 16 * (nlist + 1)
        self.code_crc = array[end : end + 4 * nlist].view("<u4")
        self.block_crc = array[end + 4 * nlist : end + 4 * nlist + 4 * blocks].view("<u4")
        trusted = isinstance(source, _MemorySource) and source.trusted
        self._checked_lists = np.full(nlist, trusted)
        self._checked_blocks = np.full(blocks, trusted)
        self._checked_float_lists = np.full(nlist, trusted)

    def attach(self, cache: ListCache, counter: ReadCounter, where: str, part_bytes: int = PART_BYTES) -> None:
        """Join a shard: its cache, its read counter, its name in error messages."""
        self.cache = cache
        self.where = where
        self._part_bytes = part_bytes
        if isinstance(self.source, _RangedSource) and self.source.counter is None:
            self.source.counter = counter
            counter.add(self.source.opening)

    def _damage(self, what: str) -> str:
        return (f"shard {self.where or '(in memory)'} segment {self.key}: {what}; its answers would be wrong, so "
                "none is given; 'faasflow fsck --repair' quarantines the damaged segment")

    # --- whole sections, on demand ---

    def _section(self, name: str) -> bytes | memoryview:
        found = self._lazy.get(name)
        if found is None:
            offset, length = self.header["sections"][name]
            found = self._lazy[name] = self.source.read(offset, length)
        return found

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def ids(self) -> list[str]:  # type: ignore[override]
        found = self._lazy.get("ids_list")
        if found is None:
            found = self._lazy["ids_list"] = orjson.loads(self._section("ids"))
            if len(found) != self._rows:
                raise SegmentFormatError(self._damage(f"it lists {len(found)} ids for {self._rows} rows"))
        return found  # type: ignore[no-any-return]

    @property
    def parts(self) -> list[np.ndarray]:  # type: ignore[override]
        found = self._lazy.get("parts")
        if found is None:
            found = self._lazy["parts"] = [self._matrix()] if self._rows else []
        return found  # type: ignore[no-any-return]

    @property
    def part_starts(self) -> np.ndarray:  # type: ignore[override]
        return np.array([0, self._rows]) if self._rows else np.array([0])

    def _matrix(self) -> np.ndarray:
        offset, length = self.header["sections"]["embeddings"]
        if self.source.in_memory:
            raw = self.source.read(offset, length)
            return np.frombuffer(raw, dtype=DTYPE).reshape(self._rows, self.dim)
        matrix = np.empty((self._rows, self.dim), DTYPE)
        row_bytes = self.dim * DTYPE.itemsize
        step = max(self._part_bytes // row_bytes, 1)
        starts = list(range(0, self._rows, step))
        chunks = self.source.read_many([(offset + s * row_bytes, min(step, self._rows - s) * row_bytes)
                                        for s in starts])
        for start, chunk in zip(starts, chunks):
            matrix[start : start + len(chunk) // row_bytes] = np.frombuffer(chunk, DTYPE).reshape(-1, self.dim)
        return matrix

    @property
    def doc_offsets(self) -> np.ndarray:  # type: ignore[override]
        found = self._lazy.get("offsets")
        if found is None:
            found = self._lazy["offsets"] = np.frombuffer(self._section("doc_offsets"), dtype="<u8",
                                                          count=self._rows + 1)
        return found  # type: ignore[no-any-return]

    @property
    def docs(self) -> bytes:  # type: ignore[override]
        return bytes(self._section("docs"))

    @property
    def _tags_raw(self) -> bytes:  # type: ignore[override]
        return bytes(self._section("tags")) if self.has_tags else b""

    @property
    def has_tags(self) -> bool:
        return bool(self.header["sections"]["tags"][1])

    def doc_json(self, row: int) -> bytes:
        """One row's document: a slice of the loaded documents, else two small ranged reads."""
        if "docs" in self._lazy or self.source.in_memory:
            offsets = self.doc_offsets
            return bytes(self._section("docs")[int(offsets[row]) : int(offsets[row + 1])])
        return self.docs_json([row])[0]

    def docs_json(self, rows: Sequence[int]) -> list[bytes]:
        """Several rows' documents, read in parallel when they are not loaded."""
        if "docs" in self._lazy or self.source.in_memory or not rows:
            return [self.doc_json(row) for row in rows]
        cache = self.cache
        found: dict[int, bytes] = self._cached("d", rows)
        missing = [row for row in rows if row not in found]
        if missing:  # each row's bounds (unless a re-rank read them ahead), then its bytes
            bounds: dict[int, tuple[int, int]] = self._cached("b", missing)
            unknown = [row for row in missing if row not in bounds]
            base = self.header["sections"]["doc_offsets"][0]
            for row, raw in zip(unknown, self.source.read_many([(base + 8 * r, 16) for r in unknown])):
                pair = np.frombuffer(raw, "<u8")
                bounds[row] = (int(pair[0]), int(pair[1]))
            start = self.header["sections"]["docs"][0]
            read = self.source.read_many([(start + bounds[r][0], bounds[r][1] - bounds[r][0]) for r in missing])
            for row, data in zip(missing, read):
                found[row] = bytes(data)
                if cache is not None:
                    cache.put((self.key, "d", row), found[row], len(data))
        return [found[row] for row in rows]

    def _cached(self, kind: str, rows: Sequence[int]) -> dict[int, Any]:
        """What the list cache holds for ``rows``: their documents (``kind`` "d") or their
        documents' bounds ("b")."""
        cache = self.cache
        if cache is None:
            return {}
        found = {}
        for row in rows:
            hit = cache.get((self.key, kind, row))
            if hit is not None:
                found[row] = hit
        return found

    def doc_dict(self, row: int) -> dict[str, Any]:
        return orjson.loads(self.doc_json(row))  # type: ignore[no-any-return]

    # --- lists and rows, checked ---

    def list_span(self, number: int) -> tuple[int, int]:
        return int(self.row_starts[number]), int(self.row_starts[number + 1])

    def list_codes(self, numbers: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each list's (int8 codes, float32 norms), read in parallel where not cached, each
        checked against its CRC-32 before use."""
        found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        missing = []
        cache = self.cache if not self.source.in_memory else None
        for number in numbers:
            hit = cache.get((self.key, "c", number)) if cache is not None else None
            if hit is not None:
                found[number] = hit
            else:
                missing.append(number)
        if missing:
            base = self.header["sections"]["codes"][0]
            ranges = []
            for number in missing:
                first, last = self.list_span(number)
                ranges.append((base + int(self.code_starts[number]), (last - first) * (self.dim + 4)))
            for number, raw in zip(missing, self.source.read_many(ranges)):
                if not self._checked_lists[number]:
                    if zlib.crc32(raw) != int(self.code_crc[number]):
                        raise ListsDamaged(self._damage(f"list {number} fails its CRC-32"))
                    if self.source.in_memory:
                        self._checked_lists[number] = True
                first, last = self.list_span(number)
                count = last - first
                array = np.frombuffer(raw, dtype=np.uint8)
                value = (array[: count * self.dim].view(np.int8).reshape(count, self.dim),
                         array[count * self.dim :].view(DTYPE))
                found[number] = value
                if cache is not None:
                    cache.put((self.key, "c", number), value, len(raw))
        return [found[number] for number in numbers]

    def float_rows(self, rows: np.ndarray, bounds: bool = False) -> np.ndarray:
        """The given rows' float32 vectors (a new matrix); each block of ``BLOCK_ROWS`` rows
        they come from is checked against its CRC-32 the first time it is read. ``bounds``
        (re-ranked candidates, read by ranges): their documents' bounds are read in the same
        parallel round and cached, so that the hits' documents take one round, not two."""
        rows = np.asarray(rows, dtype=np.int64)
        loaded = self._lazy.get("parts")
        if loaded is not None and not self.source.in_memory:
            return loaded[0][rows]  # type: ignore[no-any-return]
        if self.source.in_memory:
            if not self._checked_blocks[rows // BLOCK_ROWS].all():
                self._check_blocks(np.unique(rows // BLOCK_ROWS))
            return self.parts[0][rows]  # type: ignore[no-any-return]
        row_bytes = self.dim * DTYPE.itemsize
        offset = self.header["sections"]["embeddings"][0]
        blocks = np.unique(rows // BLOCK_ROWS)
        out = np.empty((len(rows), self.dim), DTYPE)
        pieces: dict[int, np.ndarray] = {}
        missing = []
        for block in blocks.tolist():
            hit = self.cache.get((self.key, "f", block)) if self.cache is not None else None
            if hit is not None:
                pieces[block] = hit
            else:
                missing.append(block)
        ranges = [(offset + b * BLOCK_ROWS * row_bytes, self._block_rows(b) * row_bytes) for b in missing]
        runs = self._bound_runs(rows) if bounds else []
        read = self.source.read_many(ranges + [self._bounds_range(run) for run in runs])
        self._keep_bounds(runs, read[len(ranges) :])
        for block, raw in zip(missing, read):
            if zlib.crc32(raw) != int(self.block_crc[block]):
                raise self._block_damaged(block)
            piece = np.frombuffer(raw, DTYPE).reshape(-1, self.dim)
            pieces[block] = piece
            if self.cache is not None:
                self.cache.put((self.key, "f", block), piece, len(raw))
        for block, piece in pieces.items():
            chosen = np.flatnonzero(rows // BLOCK_ROWS == block)
            out[chosen] = piece[rows[chosen] - block * BLOCK_ROWS]
        return out

    def _bound_runs(self, rows: np.ndarray) -> list[list[int]]:
        """The rows whose documents' bounds are neither loaded nor cached, in runs close
        enough (``BOUNDS_RUN`` rows) to read each run's bounds by one ranged read."""
        if self.cache is None or "docs" in self._lazy or "offsets" in self._lazy:
            return []
        unique = np.unique(rows).tolist()
        known = self._cached("d", unique).keys() | self._cached("b", unique).keys()
        runs: list[list[int]] = []
        for row in unique:
            if row in known:
                continue
            if runs and row - runs[-1][0] < BOUNDS_RUN:
                runs[-1].append(row)
            else:
                runs.append([row])
        return runs

    def _bounds_range(self, run: list[int]) -> tuple[int, int]:
        return self.header["sections"]["doc_offsets"][0] + 8 * run[0], 8 * (run[-1] - run[0] + 2)

    def _keep_bounds(self, runs: list[list[int]], reads: Sequence[bytes | memoryview]) -> None:
        """Cache each run's rows' document bounds, from its read (``_bounds_range``)."""
        cache = self.cache
        if cache is None:
            return
        for run, raw in zip(runs, reads):
            offsets = np.frombuffer(raw, "<u8").tolist()
            for row in run:
                cache.put((self.key, "b", row), (offsets[row - run[0]], offsets[row - run[0] + 1]), 16)

    def _check_blocks(self, blocks: np.ndarray) -> None:
        """Check the in-memory float32 blocks not checked yet against their CRC-32."""
        unchecked = blocks[~self._checked_blocks[blocks]]
        if not len(unchecked):
            return
        row_bytes = self.dim * DTYPE.itemsize
        offset = self.header["sections"]["embeddings"][0]
        for block in unchecked.tolist():
            raw = self.source.read(offset + block * BLOCK_ROWS * row_bytes, self._block_rows(block) * row_bytes)
            if zlib.crc32(raw) != int(self.block_crc[block]):
                raise self._block_damaged(block)
        self._checked_blocks[unchecked] = True

    def list_floats(self, number: int) -> np.ndarray:
        """A list's float32 rows as they lie in memory (no copy; in-memory sources only),
        their blocks checked against their CRC-32 on first touch."""
        first, last = int(self.row_starts[number]), int(self.row_starts[number + 1])
        if not self._checked_float_lists[number]:
            self._check_blocks(np.arange(first // BLOCK_ROWS, -(-last // BLOCK_ROWS)))
            self._checked_float_lists[number] = True
        return self._lazy["parts"][0][first:last] if "parts" in self._lazy else self.parts[0][first:last]

    def float_matrix(self, lists: Sequence[int]) -> np.ndarray:
        """The float32 matrix as it lies in memory (no copy; in-memory sources only), the
        blocks of ``lists`` checked against their CRC-32 (each on first touch)."""
        checked = self._checked_float_lists
        for number in lists:
            if not checked[number]:
                self.list_floats(number)
        return self._lazy["parts"][0] if "parts" in self._lazy else self.parts[0]

    def list_norms(self, number: int) -> np.ndarray:
        """A list's rows' float32 norms (stored after its codes)."""
        return self.list_codes([number])[0][1]

    def _block_damaged(self, block: int) -> ListsDamaged:
        first = block * BLOCK_ROWS
        return ListsDamaged(self._damage(f"rows {first} to {first + self._block_rows(block) - 1} fail their CRC-32"))

    def _block_rows(self, block: int) -> int:
        return min(BLOCK_ROWS, self._rows - block * BLOCK_ROWS)

    def list_of_rows(self) -> np.ndarray:
        """Each row's list (rows are grouped by list)."""
        return np.repeat(np.arange(self.nlist, dtype=np.int32), np.diff(self.row_starts))

    def embedding(self, row: int) -> np.ndarray:
        return self.float_rows(np.array([row]))[0]

    def embeddings(self, rows: np.ndarray) -> np.ndarray:
        return self.float_rows(np.asarray(rows))


segment_file.register_format(2, open_segment)
