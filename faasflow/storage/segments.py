"""Append-only segments plus a manifest: durable state that many writers can share.

A write stores a new immutable segment, then swaps the manifest (the list of live
segments) with a conditional write, retrying when another writer got there first. A
crash between the two leaves the old manifest valid and the new segment unreferenced
(collectable); no write ever rewrites existing data. Readers need one small GET (the
manifest) to know whether anything changed.

Compaction writes one new segment holding what a run of segments holds, then swaps the
run for it in the manifest (``replace``); the run's segments, like a crashed writer's
orphans, are deleted later by ``collect``. The manifest remembers when each replaced
segment left it (``retired``), so those go after a short grace (``RETIRED_AFTER_S``, for
readers still loading an older manifest), while an unlisted segment the manifest never
listed may be a write in flight and waits the long one (``COLLECT_AFTER_S``).

The manifest also records each segment's byte size, CRC-32 and row count, taken when it
was written: ``faasflow fsck`` checks the stored segments against them.

The manifest also records the rows' dimension (set by the first write that gives one,
checked by every later one in the same conditional swap), so no process, however fresh,
can add rows that the shard's searches and compactions could not combine.

An IVF-indexed shard's manifest also holds ``ivf`` (``faasflow.index.shard``): its centroid
sets (immutable objects under ``segments/``, each with its size and CRC-32), which one new
writes are assigned to, and the drift measured since it was trained. Each segment's record
names the set its lists were assigned to (``SegmentInfo.centroids``); a set no listed segment
names leaves the manifest and is collected like a retired segment.
"""

from __future__ import annotations

import random
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from faasflow.storage.base import Storage, StorageError, VersionConflict

MANIFEST = "manifest.json"
SEGMENTS = "segments/"
COLLECT_AFTER_S = 900.0
"""Grace period before an unreferenced segment is deleted: longer than any write takes
between storing its segment and publishing it (a Lambda runs at most 15 minutes)."""
RETIRED_AFTER_S = 30.0
"""Grace period before a segment that a compaction (or a repair) took out of the manifest
is deleted: longer than a reader takes to load the segments of the manifest it read (one
that is too slow reads the newer manifest and loads what replaced them)."""


class SegmentsChanged(VersionConflict):
    """A replace found the segments it was to replace no longer (all, contiguously) listed:
    another compaction got there first."""


class DimensionMismatch(ValueError):
    """A write's rows have another dimension than the manifest records for the shard: one
    shard holds one dimension, or its searches and compactions could not combine rows."""

    def __init__(self, expected: int, given: int):
        self.expected = expected
        self.given = given
        super().__init__(f"embeddings of dimension {given} cannot join a shard of dimension {expected}")


@dataclass(frozen=True)
class SegmentInfo:
    """What a segment was when written: ``faasflow fsck`` compares the stored object to it."""

    size: int
    crc32: int
    rows: int | None = None
    centroids: str | None = None  # the centroid set its lists were assigned to; None: no lists

    @classmethod
    def of(cls, data: bytes, rows: int | None = None, centroids: str | None = None) -> SegmentInfo:
        return cls(len(data), zlib.crc32(data), rows, centroids)

    def to_json(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"size": self.size, "crc32": self.crc32}
        if self.rows is not None:
            fields["rows"] = self.rows
        if self.centroids is not None:
            fields["centroids"] = self.centroids
        return fields

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> SegmentInfo:
        rows, centroids = value.get("rows"), value.get("centroids")
        return cls(int(value["size"]), int(value["crc32"]), None if rows is None else int(rows),
                   None if centroids is None else str(centroids))


@dataclass(frozen=True)
class Manifest:
    version: str | None  # None: no manifest written yet
    generation: int
    segments: tuple[str, ...]
    dim: int | None = None  # the rows' dimension, fixed by the first write; None: not recorded
    dtype: str | None = None  # the rows' numpy dtype string, recorded with ``dim``
    files: dict[str, SegmentInfo] = field(default_factory=dict, compare=False)
    """Each listed segment's size and checksum; absent for segments published before they
    were recorded (or by a writer that did not record them)."""
    retired: dict[str, float] = field(default_factory=dict, compare=False)
    """Segments taken out of the list (by a compaction or a repair), with when: ``collect``
    deletes them after ``RETIRED_AFTER_S``."""
    ivf: dict[str, Any] | None = field(default=None, compare=False)
    """The IVF index: ``{"current": key, "sets": {key: record}, "drift": {"rows", "sse"}}``;
    None: the shard has no index (searches are exact)."""

    def listed(self) -> set[str]:
        """Every object the manifest references: its segments and its centroid sets."""
        return set(self.segments) | set((self.ivf or {}).get("sets", {}))


def segment_time(key: str) -> float | None:
    """When a segment was written (seconds since the epoch), from its key; None if the key
    is not one ``SegmentLog`` made."""
    name = key.rsplit("/", 1)[-1]
    stamp = name.split("-", 1)[0]
    return int(stamp) / 1e9 if stamp.isdigit() else None


class SegmentLog:
    """The segments and manifest of one executor shard, under ``prefix`` of a storage."""

    after_write: ClassVar[Callable[[str], None] | None] = None
    """Fault injection for tests: called with the key after a segment is stored and before
    it is published (a test makes it kill the process there)."""

    def __init__(
        self, storage: Storage, prefix: str = "", max_attempts: int = 50, retired_after_s: float = RETIRED_AFTER_S
    ):
        self.storage = storage.child(prefix) if prefix else storage
        self.max_attempts = max_attempts
        self.retired_after_s = retired_after_s
        self._written: dict[str, SegmentInfo] = {}  # written here, not yet published: their checks
        self._collected: set[str] = set()  # retired segments deleted here: the next swap forgets them
        self._parsed: Manifest | None = None  # the last manifest read: a version seen again is not parsed again

    def manifest(self) -> Manifest:
        found = self.storage.get_versioned(MANIFEST)
        if found is None:
            return Manifest(None, 0, ())
        data, version = found
        last = self._parsed
        if last is not None and last.version == version:  # Manifests are never changed in place
            return last
        try:
            parsed = orjson.loads(data)
            dim = parsed.get("dim")  # absent in manifests written before dimensions were recorded
            dtype = parsed.get("dtype")
            manifest = self._parsed = Manifest(
                version,
                int(parsed["generation"]),
                tuple(parsed["segments"]),
                None if dim is None else int(dim),
                None if dtype is None else str(dtype),
                # both absent in manifests written before checksums and retirements were recorded
                {key: SegmentInfo.from_json(info) for key, info in parsed.get("files", {}).items()},
                {key: float(when) for key, when in parsed.get("retired", {}).items()},
                parsed.get("ivf"),
            )
            return manifest
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StorageError(f"{self.storage.url}{MANIFEST} is not a valid manifest: {exc}") from None

    def read(self, key: str) -> bytes:
        data = self.storage.get(key)
        if data is None:
            raise StorageError(f"{self.storage.url}{key} is listed in the manifest but missing")
        return data

    def new_key(self, label: str = "") -> str:
        """A fresh segment key: its write time first (for ``collect``), then a random part,
        then ``label`` (what a reader may want to know from the manifest alone)."""
        return f"{SEGMENTS}{time.time_ns():020d}-{uuid.uuid4().hex}{'-' + label if label else ''}.seg"

    def write(self, data: bytes, label: str = "", rows: int | None = None, centroids: str | None = None,
              key: str | None = None) -> str:
        """Store ``data`` as a new segment, not yet visible to readers; returns its key. Its
        size, checksum, ``rows`` and ``centroids`` go into the manifest that publishes it."""
        key = key or self.new_key(label)
        info = SegmentInfo.of(data, rows, centroids)
        self.storage.put(key, data)  # a fresh unique key: nobody else writes it
        self._written[key] = info
        hook = SegmentLog.after_write
        if hook is not None:
            hook(key)
        return key

    def publish(self, *keys: str, dim: int | None = None, dtype: str | None = None,
                ivf: Callable[[dict[str, Any] | None], dict[str, Any] | None] | None = None) -> Manifest:
        """Add written segments to the end of the manifest (newest last). ``dim`` (and
        ``dtype``): the segments' row dimension, recorded by the first write and checked
        against the record by every later one (DimensionMismatch). ``ivf``: how the
        manifest's IVF record changes with them (applied to each version tried)."""
        return self.swap(lambda segments: (*segments, *keys), dim=dim, dtype=dtype, ivf=ivf)

    def discard(self, key: str) -> None:
        """Delete a segment written here that will never be published."""
        self._written.pop(key, None)
        self.storage.delete(key)

    def append(self, data: bytes) -> Manifest:
        """Store ``data`` as a new segment and publish it in the manifest."""
        return self.publish(self.write(data))

    def replace(self, old: Sequence[str], new: str | None,
                ivf: Callable[[dict[str, Any] | None], dict[str, Any] | None] | None = None) -> Manifest:
        """Swap the run of segments ``old`` (contiguous in the manifest, in this order) for
        the one segment ``new`` (or for nothing), where the run was. Raises SegmentsChanged,
        without retrying, when the run is no longer listed as it was. The run is recorded
        as retired, for ``collect``."""
        old = tuple(old)
        if not old:
            raise ValueError("replace needs at least one segment to replace")

        def change(segments: tuple[str, ...]) -> tuple[str, ...]:
            for start in range(len(segments) - len(old) + 1):
                if segments[start : start + len(old)] == old:
                    return (*segments[:start], *((new,) if new else ()), *segments[start + len(old) :])
            raise SegmentsChanged(f"{self.storage.url}{MANIFEST} no longer lists the {len(old)} segments to replace")

        return self.swap(change, ivf=ivf)

    def swap(
        self,
        change: Callable[[tuple[str, ...]], Sequence[str]],
        *,
        dim: int | None = None,
        dtype: str | None = None,
        ivf: Callable[[dict[str, Any] | None], dict[str, Any] | None] | None = None,
    ) -> Manifest:
        """Replace the manifest's segment list by ``change(segments)``, retrying on conflict.
        The recorded dimension is kept; ``dim`` sets it when none is recorded and must equal
        it otherwise (checked on the version swapped, so concurrent writers of different
        dimensions cannot both win). Segments that leave the list are recorded as retired;
        those written here get their recorded checks."""
        for attempt in range(self.max_attempts):
            current = self.manifest()
            if dim is not None and current.dim is not None and dim != current.dim:
                raise DimensionMismatch(current.dim, dim)
            segments = tuple(change(current.segments))
            new_dim = current.dim if current.dim is not None else dim
            new_dtype = current.dtype if current.dtype is not None else dtype
            files = {key: info for key in segments if (info := current.files.get(key) or self._written.get(key))}
            index = _kept_sets(ivf(current.ivf) if ivf is not None else current.ivf, files)
            new_listed = set(segments) | set((index or {}).get("sets", {}))
            retired = self._retired(current, new_listed)
            fields: dict[str, object] = {"generation": current.generation + 1, "segments": list(segments)}
            if new_dim is not None:
                fields["dim"] = new_dim
            if new_dtype is not None:
                fields["dtype"] = new_dtype
            if files:
                fields["files"] = {key: info.to_json() for key, info in files.items()}
            if retired:
                fields["retired"] = retired
            if index:
                fields["ivf"] = index
            body = orjson.dumps(fields)
            try:
                if current.version is None:
                    version = self.storage.put_if_absent(MANIFEST, body)
                else:
                    version = self.storage.put_if_version(MANIFEST, body, current.version)
            except VersionConflict:
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # another writer won: back off, retry
                continue
            for key in segments:
                self._written.pop(key, None)
            self._collected.intersection_update(retired)  # those it left out are forgotten for good
            return Manifest(version, current.generation + 1, segments, new_dim, new_dtype, files, retired, index)
        raise StorageError(f"could not update {self.storage.url}{MANIFEST} after {self.max_attempts} attempts")

    def _retired(self, current: Manifest, kept: set[str]) -> dict[str, float]:
        """The retired record after a swap from ``current`` to a manifest referencing
        ``kept`` (segments and centroid sets): what left it now, plus what was retired
        before and is not yet known to be deleted (an entry older than ``COLLECT_AFTER_S``
        is dropped regardless: by then its write time is that old too, and ``collect``
        deletes it as an unlisted segment)."""
        now = time.time()
        retired = {
            key: when
            for key, when in current.retired.items()
            if key not in kept and key not in self._collected and now - when <= COLLECT_AFTER_S
        }
        retired.update((key, round(now, 3)) for key in current.listed() if key not in kept)
        return retired

    def collect(
        self, min_age_s: float = COLLECT_AFTER_S, now: float | None = None, retired_after_s: float | None = None
    ) -> list[str]:
        """Delete segments the manifest does not list, and return them: those it retired
        (runs a compaction replaced) more than ``retired_after_s`` ago (default: this log's
        ``retired_after_s``), and any other (a crashed writer's orphan) written more than
        ``min_age_s`` ago."""
        now = time.time() if now is None else now
        retired_after_s = self.retired_after_s if retired_after_s is None else retired_after_s
        stored = self.storage.list(SEGMENTS)  # listed before the manifest is read: see below
        manifest = self.manifest()
        listed = manifest.listed()
        deleted = []
        for key in stored:
            if key in listed:
                continue
            written = segment_time(key)
            retired = manifest.retired.get(key)
            # a segment published after the listing is in the manifest read after it; one
            # being written right now is younger than the grace period and was never listed,
            # so never retired: a retired segment can never be listed again
            if (retired is not None and now - retired > retired_after_s) or (
                written is not None and now - written > min_age_s
            ):
                self.storage.delete(key)
                deleted.append(key)
        # retired entries already gone (deleted here or elsewhere) leave the record at the next swap
        present = set(stored).difference(deleted)
        self._collected.update(key for key in manifest.retired if key not in present)
        return deleted


def _kept_sets(index: dict[str, Any] | None, files: Mapping[str, SegmentInfo]) -> dict[str, Any] | None:
    """The IVF record less the centroid sets that neither a listed segment nor new writes
    (the current set) use."""
    if not index:
        return None
    used = {info.centroids for info in files.values() if info.centroids is not None}
    current = index.get("current")
    sets = {key: record for key, record in index.get("sets", {}).items() if key in used or key == current}
    return {**index, "sets": sets}
