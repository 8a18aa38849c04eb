"""Append-only segments plus a manifest: durable state that many writers can share.

A write stores a new immutable segment, then swaps the manifest (the list of live
segments) with a conditional write, retrying when another writer got there first. A
crash between the two leaves the old manifest valid and the new segment unreferenced
(collectable); no write ever rewrites existing data. Readers need one small GET (the
manifest) to know whether anything changed.

Compaction writes one new segment holding what a run of segments holds, then swaps the
run for it in the manifest (``replace``); the run's segments, like a crashed writer's
orphans, are deleted later by ``collect``, once they are older than a grace period.

The manifest also records the rows' dimension (set by the first write that gives one,
checked by every later one in the same conditional swap), so no process, however fresh,
can add rows that the shard's searches and compactions could not combine.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import orjson

from faasflow.storage.base import Storage, StorageError, VersionConflict

MANIFEST = "manifest.json"
SEGMENTS = "segments/"
COLLECT_AFTER_S = 900.0
"""Grace period before an unreferenced segment is deleted: longer than any write takes
between storing its segment and publishing it, and than any reader holds an old manifest."""


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
class Manifest:
    version: str | None  # None: no manifest written yet
    generation: int
    segments: tuple[str, ...]
    dim: int | None = None  # the rows' dimension, fixed by the first write; None: not recorded
    dtype: str | None = None  # the rows' numpy dtype string, recorded with ``dim``


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

    def __init__(self, storage: Storage, prefix: str = "", max_attempts: int = 50):
        self.storage = storage.child(prefix) if prefix else storage
        self.max_attempts = max_attempts

    def manifest(self) -> Manifest:
        found = self.storage.get_versioned(MANIFEST)
        if found is None:
            return Manifest(None, 0, ())
        data, version = found
        try:
            parsed = orjson.loads(data)
            dim = parsed.get("dim")  # absent in manifests written before dimensions were recorded
            dtype = parsed.get("dtype")
            return Manifest(
                version,
                int(parsed["generation"]),
                tuple(parsed["segments"]),
                None if dim is None else int(dim),
                None if dtype is None else str(dtype),
            )
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

    def write(self, data: bytes, label: str = "") -> str:
        """Store ``data`` as a new segment, not yet visible to readers; returns its key."""
        key = self.new_key(label)
        self.storage.put(key, data)  # a fresh unique key: nobody else writes it
        hook = SegmentLog.after_write
        if hook is not None:
            hook(key)
        return key

    def publish(self, *keys: str, dim: int | None = None, dtype: str | None = None) -> Manifest:
        """Add written segments to the end of the manifest (newest last). ``dim`` (and
        ``dtype``): the segments' row dimension, recorded by the first write and checked
        against the record by every later one (DimensionMismatch)."""
        return self.swap(lambda segments: (*segments, *keys), dim=dim, dtype=dtype)

    def append(self, data: bytes) -> Manifest:
        """Store ``data`` as a new segment and publish it in the manifest."""
        return self.publish(self.write(data))

    def replace(self, old: Sequence[str], new: str | None) -> Manifest:
        """Swap the run of segments ``old`` (contiguous in the manifest, in this order) for
        the one segment ``new`` (or for nothing), where the run was. Raises SegmentsChanged,
        without retrying, when the run is no longer listed as it was."""
        old = tuple(old)
        if not old:
            raise ValueError("replace needs at least one segment to replace")

        def change(segments: tuple[str, ...]) -> tuple[str, ...]:
            for start in range(len(segments) - len(old) + 1):
                if segments[start : start + len(old)] == old:
                    return (*segments[:start], *((new,) if new else ()), *segments[start + len(old) :])
            raise SegmentsChanged(f"{self.storage.url}{MANIFEST} no longer lists the {len(old)} segments to replace")

        return self.swap(change)

    def swap(
        self,
        change: Callable[[tuple[str, ...]], Sequence[str]],
        *,
        dim: int | None = None,
        dtype: str | None = None,
    ) -> Manifest:
        """Replace the manifest's segment list by ``change(segments)``, retrying on conflict.
        The recorded dimension is kept; ``dim`` sets it when none is recorded and must equal
        it otherwise (checked on the version swapped, so concurrent writers of different
        dimensions cannot both win)."""
        for attempt in range(self.max_attempts):
            current = self.manifest()
            if dim is not None and current.dim is not None and dim != current.dim:
                raise DimensionMismatch(current.dim, dim)
            segments = tuple(change(current.segments))
            new_dim = current.dim if current.dim is not None else dim
            new_dtype = current.dtype if current.dtype is not None else dtype
            fields: dict[str, object] = {"generation": current.generation + 1, "segments": list(segments)}
            if new_dim is not None:
                fields["dim"] = new_dim
            if new_dtype is not None:
                fields["dtype"] = new_dtype
            body = orjson.dumps(fields)
            try:
                if current.version is None:
                    version = self.storage.put_if_absent(MANIFEST, body)
                else:
                    version = self.storage.put_if_version(MANIFEST, body, current.version)
            except VersionConflict:
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # another writer won: back off, retry
                continue
            return Manifest(version, current.generation + 1, segments, new_dim, new_dtype)
        raise StorageError(f"could not update {self.storage.url}{MANIFEST} after {self.max_attempts} attempts")

    def collect(self, min_age_s: float = COLLECT_AFTER_S, now: float | None = None) -> list[str]:
        """Delete segments the manifest does not list (a crashed writer's orphans, runs a
        compaction replaced) that were written more than ``min_age_s`` ago; returns them."""
        now = time.time() if now is None else now
        stored = self.storage.list(SEGMENTS)  # listed before the manifest is read: see below
        listed = set(self.manifest().segments)
        deleted = []
        for key in stored:
            written = segment_time(key)
            # a segment published after the listing is in the manifest read after it; one
            # being written right now is younger than the grace period
            if key not in listed and written is not None and now - written > min_age_s:
                self.storage.delete(key)
                deleted.append(key)
        return deleted
