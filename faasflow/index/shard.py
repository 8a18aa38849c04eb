"""One shard's durable vector index: segments in a ``SegmentLog``, a warm cache, exact search.

Writes never touch what is stored: an upsert or a delete is a new segment published by a
conditional swap of the manifest; compaction merges a run of segments into a new one and
swaps it in. A process keeps every segment it has loaded (they are immutable) and the
*view* of one manifest version (which rows of those segments are live); when the manifest
changes it loads only the new segments, and when segments were only appended (the common
case) it updates the view by the new rows alone.

A view also knows the sums of its live rows' embeddings (``stats``: their centroid, for
drift): each segment's own sums less those of its rows that newer segments replaced or deleted.

A shard of at least ``ivf_min_rows`` rows gets an inverted-file index (``faasflow.index.ivf``,
``faasflow.index.lists``): the first write or merge of that many rows trains centroids on its
rows, and from then on every new segment is written grouped by list, assigned to the shard's
current centroid set. A search probes ``nprobe`` lists per indexed segment and re-ranks the
best candidates exactly (``faasflow.index.approximate``); ``exact=True`` scores every row as
before. The manifest's ``ivf`` record measures drift: the mean squared distance of the rows
written since training to their centroids, against the training rows' own (``mse``); once
their ratio passes ``retrain_ratio``, the next compaction that merges at least half the
shard's rows trains new centroids on them. Segments keep the set they were assigned to until
a merge reassigns them, so a search may probe two sets for a while.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np

from faasflow.index import ivf as ivf_index
from faasflow.index import segment as segment_file
from faasflow.index.approximate import SearchReport, approximate_blocks
from faasflow.index.compaction import plan_merge
from faasflow.index.lists import DEFAULT_CACHE_BYTES, IvfSegment, ListCache, ReadCounter, grouped
from faasflow.index.segment import DTYPE, PART_BYTES, Segment, SegmentFormatError, SegmentMissing
from faasflow.index.stats import EmbeddingStats
from faasflow.search import Block, search_blocks
from faasflow.storage.base import Storage
from faasflow.storage.segments import (
    COLLECT_AFTER_S,
    RETIRED_AFTER_S,
    DimensionMismatch,
    Manifest,
    SegmentInfo,
    SegmentLog,
    SegmentsChanged,
)

logger = logging.getLogger("faasflow.index")

IVF_MIN_ROWS = 50_000
"""Shards smaller than this stay exact: no centroids, every row scored."""
DEFAULT_NPROBE = 32
RETRAIN_RATIO = 1.5
"""Retrain once the rows written since training sit this much farther (mean squared
distance) from their centroids than the training rows did."""
DRIFT_MIN_ROWS = 1000
"""Rows written since training before their drift is judged at all."""
ASSIGN_ATTEMPTS = 5
"""How often a write assigns its rows again when their centroid set is retrained away
before the write is published (each time, a merge retired the set in between)."""


class CentroidSetRetired(SegmentsChanged):
    """The centroid set a segment was assigned to left the manifest before the segment was
    published: the segment is discarded and its rows assigned to the current set."""


class NprobeOutOfRange(ValueError):
    """``nprobe`` is more than the shard's lists (or not positive)."""

    def __init__(self, nprobe: int, nlist: int):
        self.nprobe, self.nlist = nprobe, nlist
        super().__init__(f"nprobe must be from 1 to the shard's {nlist} lists; got {nprobe}")


SPARSE_FILTER = 0.25
"""Below this fraction of valid rows a part's rows are gathered, not scored and masked."""

_COMPUTE = threading.Lock()
"""One search's products at a time per process. BLAS already spreads one product over
every core; shards searched in parallel threads (the local engine) would each start as
many BLAS threads again and oversubscribe the cores: measured on 2 cores, 4 shards of a
1M x 384 matrix answer one query about 1.5x slower in parallel than in turn."""


class View:
    """What one manifest version shows: its segments in order, and which rows are live.

    Positions number the rows of all segments one after another (dead rows included);
    searches return positions and ``locate`` maps them back to (segment, row).
    """

    def __init__(
        self,
        manifest: Manifest,
        segments: list[Segment],
        masks: list[np.ndarray | None],
        live: int,
        id_map: dict[str, int] | None = None,
        stats: EmbeddingStats | None = None,
    ):
        self.version = manifest.version
        self.generation = manifest.generation
        self.keys = manifest.segments
        self.recorded_dim = manifest.dim
        self.ivf = manifest.ivf
        self.segments = segments
        self.starts = [0]
        for seg in segments:
            self.starts.append(self.starts[-1] + seg.rows)
        self.masks = masks
        self.live = live
        self._id_map = id_map
        self._blocks: list[Block] | None = None
        self._lock = threading.Lock()
        self._stats = stats

    @classmethod
    def build(cls, manifest: Manifest, segments: list[Segment]) -> View:
        """From scratch, newest segment first: a row is dead when a newer segment has its id
        among its rows or its deletions."""
        masks: list[np.ndarray | None] = [None] * len(segments)
        seen: set[str] = set()
        live = 0
        for number in range(len(segments) - 1, -1, -1):
            seg = segments[number]
            live += seg.rows
            if seen and seg.rows:
                dead = np.fromiter(map(seen.__contains__, seg.ids), dtype=bool, count=seg.rows)
                if dead.any():
                    masks[number] = ~dead
                    live -= int(dead.sum())
            if number:
                seen.update(seg.ids)
                seen.update(seg.deleted)
        return cls(manifest, segments, masks, live)

    def extended(self, manifest: Manifest, new: list[Segment]) -> View:
        """This view plus segments appended after its own: only the new rows are looked at."""
        id_map = self._take_id_map()
        segments = self.segments + new
        starts = list(self.starts)
        killed: list[int] = []
        live = self.live
        for seg in new:
            start = starts[-1]
            for doc_id in seg.deleted:
                position = id_map.pop(doc_id, None)
                if position is not None:
                    killed.append(position)
            if seg.rows:
                killed.extend(id_map[doc_id] for doc_id in id_map.keys() & seg.ids)
                id_map.update(zip(seg.ids, range(start, start + seg.rows)))
            starts.append(start + seg.rows)
            live += seg.rows
        masks = list(self.masks) + [None] * len(new)
        stats = self._stats  # known here: carried on by the new rows and the killed ones alone
        if stats is not None:
            for seg in new:
                stats = stats + seg.stats
        if killed:
            positions = np.asarray(killed, dtype=np.int64)
            owners = np.searchsorted(np.asarray(starts), positions, side="right") - 1
            for owner in np.unique(owners):
                rows = positions[owners == owner] - starts[owner]
                mask = np.ones(segments[owner].rows, dtype=bool) if masks[owner] is None else masks[owner].copy()
                mask[rows] = False
                masks[owner] = mask
                if stats is not None:
                    stats = stats - EmbeddingStats.of(segments[owner].embeddings(rows))
            live -= len(killed)
        return View(manifest, segments, masks, live, id_map, stats)

    @property
    def dim(self) -> int | None:
        """The rows' dimension: as the manifest records it, else (a manifest written before
        dimensions were recorded) that of the oldest segment with rows; None when empty."""
        if self.recorded_dim is not None:
            return self.recorded_dim
        return next((seg.dim for seg in self.segments if seg.rows), None)

    def stats(self) -> EmbeddingStats:
        """The sums of the live rows' embeddings: the segments' (from their headers) less
        their dead rows'; worked out on first use, then carried on to newer views."""
        stats = self._stats
        if stats is None:
            stats = EmbeddingStats.empty(self.dim or 0)
            for seg, mask in zip(self.segments, self.masks):
                if not seg.rows:
                    continue
                stats = stats + seg.stats
                if mask is not None:
                    stats = stats - EmbeddingStats.of(seg.embeddings(np.flatnonzero(~mask)))
            self._stats = stats
        return stats

    def locate(self, position: int) -> tuple[Segment, int]:
        number = bisect.bisect_right(self.starts, position) - 1
        return self.segments[number], position - self.starts[number]

    def _build_id_map(self) -> dict[str, int]:
        id_map: dict[str, int] = {}
        for seg, start in zip(self.segments, self.starts):
            for doc_id in seg.deleted:
                id_map.pop(doc_id, None)
            id_map.update(zip(seg.ids, range(start, start + seg.rows)))
        return id_map

    def id_map(self) -> dict[str, int]:
        """Live id -> position (built on first use: searches never need it)."""
        with self._lock:
            if self._id_map is None:
                self._id_map = self._build_id_map()
            return self._id_map

    def _take_id_map(self) -> dict[str, int]:
        """The id map, handed over to a newer view (which edits it); this one rebuilds its
        own if it is asked again."""
        with self._lock:
            id_map = self._id_map if self._id_map is not None else self._build_id_map()
            self._id_map = None
            return id_map

    def blocks(self, conditions: Mapping[str, Any] | None = None) -> list[Block]:
        """The live rows (those whose tags equal ``conditions``, if given) as search blocks."""
        if not conditions and self._blocks is not None:
            return self._blocks
        blocks = []
        for number, seg in enumerate(self.segments):
            if seg.rows:
                blocks.extend(self.segment_blocks(number, self.valid(number, conditions)))
        if not conditions:
            self._blocks = blocks
        return blocks

    def valid(self, number: int, conditions: Mapping[str, Any] | None = None) -> np.ndarray | None:
        """Segment ``number``'s live rows whose tags equal ``conditions`` (None: all of them)."""
        valid = self.masks[number]
        if conditions:
            matching = self.segments[number].filter_mask(conditions)
            valid = matching if valid is None else valid & matching
        return valid

    def segment_blocks(self, number: int, valid: np.ndarray | None) -> list[Block]:
        """Segment ``number``'s rows where ``valid`` (all where None) as search blocks."""
        seg = self.segments[number]
        blocks = []
        base = self.starts[number]
        for part_number, part in enumerate(seg.parts):
            first, last = int(seg.part_starts[part_number]), int(seg.part_starts[part_number + 1])
            part_valid = None if valid is None else valid[first:last]
            if part_valid is not None:
                count = int(np.count_nonzero(part_valid))
                if count == 0:
                    continue
                if count == len(part_valid):
                    part_valid = None
                elif count < SPARSE_FILTER * len(part_valid):
                    rows = np.flatnonzero(part_valid)
                    blocks.append(Block(part[rows], positions=base + first + rows))
                    continue
            blocks.append(Block(part, offset=base + first, valid=part_valid, column=seg.column(part_number)))
        return blocks


@cache  # made once; a race can only make a spare pool, and pools start threads on first use
def _load_pool() -> ThreadPoolExecutor:
    """Threads that load whole segments (each one's parts go to the segment I/O pool)."""
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="faasflow-segment-load")


class ShardIndex:
    """Upsert, delete, compact and search one shard's documents in a storage."""

    def __init__(
        self,
        storage: Storage,
        *,
        max_segments: int = 32,
        merge_factor: int = 8,
        collect_after_s: float = COLLECT_AFTER_S,
        part_bytes: int = PART_BYTES,
        max_staleness_s: float = 0.0,
        retired_after_s: float = RETIRED_AFTER_S,
        ivf_min_rows: int = IVF_MIN_ROWS,
        nlist: int | None = None,
        nprobe: int = DEFAULT_NPROBE,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        retrain_ratio: float = RETRAIN_RATIO,
    ):
        self.log = SegmentLog(storage, retired_after_s=retired_after_s)
        self.ivf_min_rows = int(ivf_min_rows)
        self.nlist = nlist
        self.nprobe = int(nprobe)
        self.retrain_ratio = float(retrain_ratio)
        self.list_cache = ListCache(cache_bytes)
        self.reads = ReadCounter()
        self._centroid_sets: dict[str, ivf_index.CentroidSet] = {}
        self._set_reads: dict[str, Future[ivf_index.CentroidSet]] = {}  # started beside a cold view's segments
        # the IVF record of the newest manifest this process has seen (a 1-tuple; None: none
        # seen): a write assigns its rows by it rather than read the manifest once more
        self._seen_ivf: tuple[dict[str, Any] | None] | None = None
        self.max_staleness_s = max_staleness_s
        self._checked_at = float("-inf")
        self.max_segments = max_segments
        self.merge_factor = merge_factor
        self.collect_after_s = collect_after_s
        self.part_bytes = part_bytes
        self._cache: dict[str, Segment] = {}
        self._view: View | None = None
        self._dim: int | None = None  # once known it never changes: writes check it without a read
        self._lock = threading.RLock()

    # --- reading ---

    def view(self, manifest: Manifest | None = None) -> View:
        """The view of the current manifest (one small read), loading only new segments.
        With ``max_staleness_s``, a view checked that recently is used without a read."""
        if manifest is None:
            current = self._view
            if current is not None and time.monotonic() - self._checked_at < self.max_staleness_s:
                return current
            checked = time.monotonic()
            manifest = self.log.manifest()
            self._checked_at = checked
        with self._lock:
            current = self._view
            if current is not None and current.version == manifest.version:
                return current
            self._read_sets_ahead(manifest)
            for attempt in range(3):
                try:
                    segments = self._load(manifest.segments)
                    break
                except SegmentMissing:
                    # a compaction replaced it (and it was collected) since the manifest
                    # was read: the newer manifest lists what replaced it
                    if attempt == 2:
                        raise
                    manifest = self.log.manifest()
            if current is not None and current.keys and manifest.segments[: len(current.keys)] == current.keys:
                view = current.extended(manifest, segments[len(current.keys) :])
            else:
                view = View.build(manifest, segments)
            self._view = view
            self._seen_ivf = (manifest.ivf,)
            for key in set(self._cache).difference(manifest.segments):
                self.list_cache.drop(key)
            self._cache = {key: self._cache[key] for key in manifest.segments if key in self._cache}
            sets = (manifest.ivf or {}).get("sets", {})
            self._centroid_sets = {key: value for key, value in self._centroid_sets.items() if key in sets}
            self._set_reads = {key: value for key, value in self._set_reads.items() if key in sets}
            return view

    def _read_sets_ahead(self, manifest: Manifest) -> None:
        """Start reading the centroid sets the manifest lists and this process has not, in
        parallel with the view's segments: a cold search needs both before its first probe.
        A failure stays in its future until a search asks for that set (``centroid_set``), so
        an exact search of a shard whose set is damaged still answers."""
        index = manifest.ivf
        for key in (index or {}).get("sets", {}):
            if key not in self._centroid_sets and key not in self._set_reads:
                self._set_reads[key] = _load_pool().submit(self._read_set, key, index)

    def _load(self, keys: Sequence[str]) -> list[Segment]:
        missing = [key for key in keys if key not in self._cache]
        if len(missing) == 1:
            self._cache[missing[0]] = self._load_one(missing[0])
        elif missing:
            pool = _load_pool()
            futures = [pool.submit(self._load_one, key) for key in missing]
            for key, future in zip(missing, futures):
                self._cache[key] = future.result()
        return [self._cache[key] for key in keys]

    def _load_one(self, key: str) -> Segment:
        try:
            return self._joined(segment_file.load(self.log.storage, key, self.part_bytes))
        except SegmentFormatError as exc:
            # every request on the shard would fail the same way: say how to get it back
            raise SegmentFormatError(
                f"shard {self.log.storage.url} cannot be read: {exc}; 'faasflow fsck' checks the shard "
                "and 'faasflow fsck --repair' quarantines the damaged segment"
            ) from exc

    def _joined(self, seg: Segment) -> Segment:
        """An indexed segment reads through this shard's list cache and read counter."""
        if isinstance(seg, IvfSegment):
            seg.attach(self.list_cache, self.reads, self.log.storage.url, self.part_bytes)
        return seg

    def centroid_set(self, key: str, index: Mapping[str, Any] | None = None) -> ivf_index.CentroidSet:
        """A centroid set by key (loaded once, checked against its manifest record)."""
        found = self._centroid_sets.get(key)
        if found is not None:
            return found
        ahead = self._set_reads.pop(key, None)
        found = ahead.result() if ahead is not None else self._read_set(key, index)
        self._centroid_sets[key] = found
        return found

    def _read_set(self, key: str, index: Mapping[str, Any] | None) -> ivf_index.CentroidSet:
        """Read a centroid set and check it against its manifest record (in ``index``)."""
        if index is None:
            index = self.log.manifest().ivf
        record = (index or {}).get("sets", {}).get(key)
        where = f"shard {self.log.storage.url} centroid set {key}"
        data = self.log.storage.get(key)
        if data is None:
            raise SegmentMissing(f"{where} is missing")
        if record is not None and (len(data) != int(record["size"]) or zlib.crc32(data) != int(record["crc32"])):
            raise SegmentFormatError(f"{where} fails its CRC-32 (or size): no answer is given from it; restore it, "
                                     "or rebuild the shard's index with a full compaction")
        try:
            found = ivf_index.CentroidSet.decode(data)
        except ivf_index.CentroidsDamaged as exc:
            raise SegmentFormatError(f"{where} cannot be read: {exc}") from None
        return found

    def count(self) -> int:
        return self.view().live

    def stats(self) -> EmbeddingStats:
        """The sums of the live embeddings, as of the current manifest (``View.stats``)."""
        return self.view().stats()

    def loaded_stats(self) -> EmbeddingStats | None:
        """The sums of the view this process loaded last, without a read (a search just
        loaded the current one); None before anything was loaded."""
        view = self._view
        return None if view is None else view.stats()

    def dim(self) -> int | None:
        """The shard's dimension (None before its first write): from the manifest, or
        derived from the segments of a manifest written before it was recorded."""
        if self._dim is None:
            manifest = self.log.manifest()
            dim = manifest.dim
            if dim is None and manifest.segments:
                dim = self.view(manifest).dim
            self._dim = dim
        return self._dim

    def search(
        self,
        queries: np.ndarray,
        limit: int,
        metric: str,
        conditions: Mapping[str, Any] | None = None,
        *,
        nprobe: int | None = None,
        exact: bool = False,
        report: SearchReport | None = None,
    ) -> list[list[tuple[Segment, int, float]]]:
        """Per query, up to ``limit`` live ``(segment, row, value)`` best first, as of the
        current manifest (one small read first: every write anywhere is seen). Raises
        DimensionMismatch for queries of another dimension than the shard's rows.

        An indexed shard is searched approximately (``nprobe`` lists, default the shard's)
        unless ``exact``; the values are exact either way. NprobeOutOfRange: more lists
        than the shard's index has. ``report`` is filled with what the search did."""
        # Not overlapped with the search: on a few cores the request's thread (and, locally,
        # the emulator serving it) steals the cores the BLAS threads spin on; measured on
        # 2 cores, a 250k-row search went from 23 ms to over 100 ms that way.
        read_before = self.reads.bytes
        view = self.view()
        dim = view.dim
        if dim is not None and queries.shape[-1] != dim:
            raise DimensionMismatch(dim, int(queries.shape[-1]))
        report = report if report is not None else SearchReport()
        sets = (view.ivf or {}).get("sets", {})
        nprobe = self.nprobe if nprobe is None else int(nprobe)
        if sets:
            nlist = max(int(record["nlist"]) for record in sets.values())
            if not 1 <= nprobe <= nlist:
                raise NprobeOutOfRange(nprobe, nlist)
        approximate = (not exact and metric in ivf_index.PROBE_METRICS
                       and any(isinstance(seg, IvfSegment) for seg in view.segments))
        # a limit past the live rows finds the same hits: reserve no room for rows that do not exist
        limit = min(limit, view.live)
        if approximate:
            report.exact, report.nprobe = False, nprobe
            blocks = approximate_blocks(view, queries, metric, limit, conditions, nprobe,
                                        lambda key: self.centroid_set(key, view.ivf), report)
        else:
            blocks = view.blocks(conditions)
            report.vectors_scanned += len(queries) * sum(len(block.matrix) for block in blocks)
        found = self._search(view, queries, limit, metric, blocks)
        report.bytes_read += self.reads.bytes - read_before
        return found

    @staticmethod
    def _search(
        view: View, queries: np.ndarray, limit: int, metric: str, blocks: list[Block]
    ) -> list[list[tuple[Segment, int, float]]]:
        with _COMPUTE:
            positions, values = search_blocks(queries, blocks, metric, limit)
        found = []
        for query_positions, query_values in zip(positions.tolist(), values.tolist()):
            hits = []
            for position, value in zip(query_positions, query_values):
                if position < 0:
                    break
                seg, row = view.locate(position)
                hits.append((seg, row, value))
            found.append(hits)
        return found

    def locate(self, ids: Sequence[str], view: View | None = None) -> list[tuple[Segment, int] | None]:
        """Where each id's live row is, or None for ids the shard does not hold."""
        view = view or self.view()
        id_map = view.id_map()
        return [None if (position := id_map.get(doc_id)) is None else view.locate(position) for doc_id in ids]

    # --- writing ---

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: np.ndarray,
        docs: Sequence[bytes],
        tags: Sequence[Mapping[str, Any]] | None = None,
    ) -> Manifest:
        """Add or replace documents (the newest write of an id wins); ``docs`` are their
        codec JSON, embeddings left out. One segment, one manifest swap. Raises
        DimensionMismatch, storing nothing, when the rows' dimension is not the shard's."""
        if not ids:
            return self.log.manifest()
        dim = int(embeddings.shape[1])
        expected = self.dim()
        if expected is not None and dim != expected:
            raise DimensionMismatch(expected, dim)
        for attempt in range(ASSIGN_ATTEMPTS):
            target = self._target_set(self._assignment_index(attempt, len(ids)), len(ids), embeddings)
            if target is None:
                manifest = self._write(segment_file.encode(ids, embeddings, docs, tags), len(ids), len(ids), dim)
                break
            key, centroids, record = target
            lengths = np.fromiter((len(d) for d in docs), dtype=np.uint64, count=len(docs))
            data, sse = grouped(key, centroids, ids, embeddings, b"".join(docs), lengths, tags)
            try:
                manifest = self._write(data, len(ids), len(ids), dim, centroids=key,
                                       ivf=_assigned(key, record, len(ids), sse))
                break
            except CentroidSetRetired:
                if attempt + 1 == ASSIGN_ATTEMPTS:
                    raise
                logger.info("centroid set %s was retrained away during a write: assigning again", key)
        self._dim = dim
        return manifest

    def _assignment_index(self, attempt: int, rows: int) -> dict[str, Any] | None:
        """The IVF record a write assigns its rows by: the newest this process has seen, so
        that a write does not read the manifest once more (if its set was retrained away
        meanwhile, the publish says so, CentroidSetRetired, and the next attempt reads it);
        read now for a retry, and when the write would train a set (training costs far more
        than a read, and another writer may have trained one already)."""
        seen = self._seen_ivf
        if attempt == 0 and seen is not None and ((seen[0] or {}).get("current") is not None
                                                  or rows < self.ivf_min_rows):
            return seen[0]
        return self.log.manifest().ivf

    def _target_set(
        self, index: Mapping[str, Any] | None, rows: int, matrix: np.ndarray | None, retrain: bool = False
    ) -> tuple[str, ivf_index.CentroidSet, dict[str, Any] | None] | None:
        """The centroid set new rows are assigned to: the shard's current one, or one trained
        on ``matrix`` (stored, not yet in the manifest: its record comes back to be published
        with the segment) when there is none and ``rows`` reach ``ivf_min_rows``, or when
        ``retrain``. None: the rows stay unindexed."""
        current = (index or {}).get("current")
        if current is not None and not retrain:
            return current, self.centroid_set(current, index), None
        if matrix is None or rows < self.ivf_min_rows or rows == 0:
            return None
        trained = ivf_index.train(np.asarray(matrix, dtype=DTYPE), self.nlist)
        data = trained.encode()
        key = self.log.new_key("centroids").removesuffix(".seg") + ".ivf"
        self.log.storage.put(key, data)  # a fresh unique key; collected like any unlisted object if never published
        self._centroid_sets[key] = trained
        return key, trained, trained.record(data)

    def delete(self, ids: Sequence[str]) -> Manifest:
        """Delete documents by id (a segment of tombstones)."""
        if not ids:
            return self.log.manifest()
        ids = list(ids)
        return self._write(segment_file.encode([], np.empty((0, 0), np.float32), [], None, deleted=ids), len(ids), 0)

    def _write(self, data: bytes, weight: int, rows: int, dim: int | None = None, centroids: str | None = None,
               ivf: Any = None) -> Manifest:
        key = self.log.write(data, label=_label(weight), rows=rows, centroids=centroids)
        with self._lock:
            self._cache[key] = self._joined(segment_file.decode(key, data))  # our own write: never read back
        try:
            manifest = self.log.publish(key, dim=dim, dtype=None if dim is None else DTYPE.str, ivf=ivf)
        except (DimensionMismatch, CentroidSetRetired):
            # another writer fixed another dimension first, or retrained the set the rows were
            # assigned to away: this segment was never published
            with self._lock:
                self._cache.pop(key, None)
            self.log.discard(key)
            raise
        self._checked_at = float("-inf")  # this process reads its own writes at once
        for _ in range(4):  # a write rarely completes more than one tier
            try:
                if not self.compact(manifest=manifest):
                    break
            except SegmentFormatError as exc:  # the write is published: a damaged neighbour must not fail it
                logger.warning("compaction skipped: %s", exc)
                break
            manifest = self.log.manifest()
        self._seen_ivf = (manifest.ivf,)
        return manifest

    def compact(self, full: bool = False, manifest: Manifest | None = None) -> bool:
        """Merge the run of segments the compaction policy picks (all of them with ``full``)
        into one, dropping replaced and deleted rows. The policy needs only the manifest
        (segment keys carry their sizes): segments are loaded only when there is work.
        False when there was nothing to do, or another compaction won. After a merge it
        collects garbage (``SegmentLog.collect``): what compactions retired more than
        ``retired_after_s`` ago and orphans older than ``collect_after_s``, so the files
        stored stay close to those listed."""
        with self._lock:
            manifest = manifest or self.log.manifest()
            plan = self._plan(manifest.segments, full)
            if plan is None:
                return False
            view = self.view(manifest)
            if view.keys != manifest.segments:  # the manifest moved on while loading
                plan = self._plan(view.keys, full)
                if plan is None:
                    return False
            start, stop = plan
            self._verify(manifest if view.keys == manifest.segments else self.log.manifest(), view.keys[start:stop])
            run_rows = sum(view.segments[n].rows if (mask := view.masks[n]) is None else int(mask.sum())
                           for n in range(start, stop))
            retrain = self._drifted(view.ivf) and 2 * run_rows >= view.live
            merged, rows, target = _merge(view, start, stop, lambda matrix: self._target_set(
                view.ivf, len(matrix), matrix, retrain))
            weight = sum(_weight(key) for key in view.keys[start:stop])
            centroids = target[0] if target is not None and rows else None
            key = (self.log.write(merged, label=_label(weight), rows=rows, centroids=centroids)
                   if merged is not None else None)
            change = None
            if target is not None and target[2] is not None:  # trained here: the new current set
                change = _trained(target[0], target[2])
            elif centroids is not None:  # the set must still be listed when the merge is
                change = _assigned(centroids, None, 0, 0.0)
            try:
                self.log.replace(view.keys[start:stop], key, ivf=change)
            except SegmentsChanged:
                if key is not None:
                    self.log.discard(key)  # never published: nobody can be reading it
                return False
            if key is not None and merged is not None:
                self._cache[key] = self._joined(segment_file.decode(key, merged))
        self.log.collect(self.collect_after_s)
        return True

    def _verify(self, manifest: Manifest, keys: Sequence[str]) -> None:
        """Refuse to merge a segment whose stored bytes are not what its manifest recorded:
        the merge would give the damage a fresh, valid checksum, and fsck would no longer
        see it. (Segments written before checksums were recorded are merged unchecked.)"""
        for key in keys:
            recorded = manifest.files.get(key)
            if recorded is None:
                continue
            data = self.log.storage.get(key)
            if data is None or SegmentInfo.of(data, recorded.rows, recorded.centroids) != recorded:
                raise SegmentFormatError(f"segment {key} is not what its manifest recorded (size or CRC-32): not "
                                         "merged; run `faasflow fsck --repair` on this shard")

    def _drifted(self, index: Mapping[str, Any] | None) -> bool:
        """Whether the rows written since the current set was trained sit ``retrain_ratio``
        times farther from their centroids than its training rows did (``drift_ratio``)."""
        ratio = drift_ratio(index)
        return ratio is not None and ratio > self.retrain_ratio

    def _plan(self, keys: Sequence[str], full: bool) -> tuple[int, int] | None:
        if full:
            return (0, len(keys)) if len(keys) > 1 else None
        return plan_merge([_weight(key) for key in keys], self.max_segments, self.merge_factor)


def drift_ratio(index: Mapping[str, Any] | None) -> float | None:
    """The mean squared distance to their centroids of the rows assigned since the current
    set was trained, over the training rows' own; None before ``DRIFT_MIN_ROWS`` such rows."""
    if not index or index.get("current") is None:
        return None
    drift = index.get("drift") or {}
    record = index.get("sets", {}).get(index["current"]) or {}
    rows, sse, mse = int(drift.get("rows", 0)), float(drift.get("sse", 0.0)), float(record.get("mse", 0.0))
    if rows < DRIFT_MIN_ROWS or mse <= 0:
        return None
    return sse / rows / mse


def _trained(key: str, record: dict[str, Any]) -> Any:
    """The manifest change that publishes a set trained by a write or a merge: it becomes
    current, its drift measured afresh."""

    def change(index: dict[str, Any] | None) -> dict[str, Any]:
        return {"current": key, "sets": {**(index or {}).get("sets", {}), key: record},
                "drift": {"rows": 0, "sse": 0.0}}

    return change


def _assigned(key: str, record: dict[str, Any] | None, rows: int, sse: float) -> Any:
    """The manifest change that publishes a segment of ``rows`` assigned to set ``key``
    (trained by this write when ``record`` is given): its distances count toward drift
    when ``key`` is the current set. Raises CentroidSetRetired when an existing ``key`` has
    left the manifest (another writer retrained and merged its segments away): re-adding
    its record would not do, since the set may already be collected."""

    def change(index: dict[str, Any] | None) -> dict[str, Any] | None:
        index = dict(index or {})
        sets = dict(index.get("sets", {}))
        if record is None and key not in sets:  # retrained away since the rows were assigned
            raise CentroidSetRetired(f"centroid set {key} is no longer in the manifest")
        drift = dict(index.get("drift") or {"rows": 0, "sse": 0.0})
        if record is not None:
            sets[key] = record
            if index.get("current") is None:  # first to train wins; a concurrent one's set stays for its segment
                return {"current": key, "sets": sets, "drift": {"rows": 0, "sse": 0.0}}
        if index.get("current") == key:
            drift = {"rows": int(drift.get("rows", 0)) + rows, "sse": float(drift.get("sse", 0.0)) + sse}
        return {**index, "sets": sets, "drift": drift}

    return change


def _label(weight: int) -> str:
    return f"{weight}w"


def _weight(key: str) -> int:
    """A segment's size for the compaction policy (rows plus deletions), from its key."""
    label = key.rsplit("/", 1)[-1].removesuffix(".seg").rsplit("-", 1)[-1]
    return int(label[:-1]) if label.endswith("w") and label[:-1].isdigit() else 1


Target = tuple[str, ivf_index.CentroidSet, "dict[str, Any] | None"]


def _merge(
    view: View, start: int, stop: int, target_for: Callable[[np.ndarray], Target | None] | None = None
) -> tuple[bytes | None, int, Target | None]:
    """One segment holding what segments ``[start, stop)`` contribute to the view: their
    live rows, and (unless nothing older is left to shadow) their deletions, its row count
    and the centroid set it was assigned to (``target_for(matrix)``; None: unindexed).
    Segments whose rows are all live are copied section by section; rows of segments
    assigned to the target set keep their lists."""
    ids: list[str] = []
    matrices: list[np.ndarray] = []
    sources: list[tuple[Segment, np.ndarray | None]] = []
    docs: list[bytes] = []
    lengths: list[np.ndarray] = []
    tags: list[Any] = []
    stats = EmbeddingStats.empty()
    with_tags = False
    deleted: set[str] = set()
    for number in range(start, stop):
        seg, mask = view.segments[number], view.masks[number]
        deleted.update(seg.deleted)
        if not seg.rows or (mask is not None and not mask.any()):
            continue
        seg_lengths = seg.doc_lengths()
        sources.append((seg, mask))
        if mask is None:
            ids.extend(seg.ids)
            matrices.extend(seg.parts)
            docs.append(seg.docs)
            lengths.append(seg_lengths)
            seg_tags = seg.tags if seg.has_tags else None
            stats = stats + seg.stats
        else:
            rows = np.flatnonzero(mask).tolist()
            ids.extend([seg.ids[row] for row in rows])
            matrices.append(seg.embeddings(np.asarray(rows)))
            stats = stats + EmbeddingStats.of(matrices[-1])
            docs.append(np.frombuffer(seg.docs, dtype=np.uint8)[np.repeat(mask, seg_lengths)].tobytes())
            lengths.append(seg_lengths[mask])
            seg_tags = [seg.tags[row] for row in rows] if seg.has_tags else None
        if seg_tags is not None:
            with_tags = True
            tags.extend(seg_tags)
        else:
            tags.extend([{}] * (seg.rows if mask is None else int(mask.sum())))
    tombstones = sorted(deleted.difference(ids)) if start > 0 else []
    if not ids and not tombstones:
        return None, 0, None
    dim = next((m.shape[1] for m in matrices), 0)
    matrix = np.concatenate(matrices) if matrices else np.empty((0, dim), np.float32)
    all_lengths = np.concatenate(lengths) if lengths else np.empty(0, np.uint64)
    target = target_for(matrix) if target_for is not None and ids else None
    if target is None:
        return segment_file.encode_sections(
            ids, matrix, b"".join(docs), all_lengths, tags if with_tags else None, deleted=tombstones,
            stats=stats if ids else None,
        ), len(ids), None
    key, centroids, _ = target
    known = [(seg.list_of_rows() if mask is None else seg.list_of_rows()[mask])
             if isinstance(seg, IvfSegment) and seg.centroids_key == key else None for seg, mask in sources]
    if all(lists is not None for lists in known):
        assigned = np.concatenate([lists for lists in known if lists is not None])
    else:
        assigned, _ = centroids.assign(matrix)
    data, _ = grouped(key, centroids, ids, matrix, b"".join(docs), all_lengths, tags if with_tags else None,
                      deleted=tombstones, stats=stats, lists=assigned)
    return data, len(ids), target
