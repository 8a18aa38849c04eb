"""Append-only segments plus a manifest: durable state that many writers can share.

A write stores a new immutable segment, then swaps the manifest (the list of live
segments) with a conditional write, retrying when another writer got there first. A
crash between the two leaves the old manifest valid and the new segment unreferenced
(collectable); no write ever rewrites existing data. Readers need one small GET (the
manifest) to know whether anything changed.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

import orjson

from faasflow.storage.base import Storage, StorageError, VersionConflict

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    version: str | None  # None: no manifest written yet
    generation: int
    segments: tuple[str, ...]


class SegmentLog:
    """The segments and manifest of one executor shard, under ``prefix`` of a storage."""

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
            return Manifest(version, int(parsed["generation"]), tuple(parsed["segments"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"{self.storage.url}{MANIFEST} is not a valid manifest: {exc}") from None

    def read(self, key: str) -> bytes:
        data = self.storage.get(key)
        if data is None:
            raise StorageError(f"{self.storage.url}{key} is listed in the manifest but missing")
        return data

    def append(self, data: bytes) -> Manifest:
        """Store ``data`` as a new segment and publish it in the manifest."""
        key = f"segments/{time.time_ns():020d}-{uuid.uuid4().hex}.seg"
        self.storage.put(key, data)  # a fresh unique key: nobody else writes it
        return self.swap(lambda segments: (*segments, key))

    def swap(self, change) -> Manifest:  # type: ignore[no-untyped-def]
        """Replace the manifest's segment list by ``change(segments)``, retrying on conflict."""
        for attempt in range(self.max_attempts):
            current = self.manifest()
            body = orjson.dumps({"generation": current.generation + 1, "segments": list(change(current.segments))})
            try:
                if current.version is None:
                    version = self.storage.put_if_absent(MANIFEST, body)
                else:
                    version = self.storage.put_if_version(MANIFEST, body, current.version)
            except VersionConflict:
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # another writer won: back off, retry
                continue
            parsed = orjson.loads(body)
            return Manifest(version, parsed["generation"], tuple(parsed["segments"]))
        raise StorageError(f"could not update {self.storage.url}{MANIFEST} after {self.max_attempts} attempts")
