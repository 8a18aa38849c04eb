"""Checking a storage's index shards against their manifests, and repairing them.

A shard is a manifest listing segments (``faasflow.storage.segments``); each segment's
size, CRC-32 and row count are recorded in the manifest when it is published. ``check``
reads every listed segment and compares; ``repair`` moves each damaged segment to the
shard's ``quarantine/`` prefix, publishes a manifest without it (the same conditional swap
every writer uses) and works out exactly which documents that loses. Nothing else in the
shard changes. ``faasflow fsck`` is the command line over both.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from faasflow.index import segment as segment_file
from faasflow.index.ivf import CentroidsDamaged, CentroidSet
from faasflow.storage.base import Storage, StorageError
from faasflow.storage.segments import MANIFEST, SEGMENTS, SegmentInfo, SegmentLog

QUARANTINE = "quarantine/"


@dataclass
class SegmentCheck:
    """One listed segment: what is wrong with it (None: nothing), and what it holds."""

    key: str
    problem: str | None = None
    note: str | None = None  # worth saying, not damage (an old manifest recorded no checksum)
    ids: list[str] | None = None  # None: could not be read
    deleted: list[str] | None = None
    recorded: SegmentInfo | None = None
    data_missing: bool = False


@dataclass
class ShardCheck:
    """One shard: its place in the storage checked and what each listed segment showed."""

    prefix: str  # '' or 'executor/0/state/': where the shard's manifest is
    segments: list[SegmentCheck] = field(default_factory=list)
    manifest_problem: str | None = None
    unlisted: int = 0  # stored segments the manifest does not list: garbage ``collect`` deletes
    centroid_problems: dict[str, str] = field(default_factory=dict)  # centroid set key: what is wrong

    @property
    def name(self) -> str:
        return self.prefix.rstrip("/") or "."

    @property
    def damaged(self) -> list[SegmentCheck]:
        return [seg for seg in self.segments if seg.problem is not None]

    @property
    def clean(self) -> bool:
        return self.manifest_problem is None and not self.damaged and not self.centroid_problems


@dataclass
class Repaired:
    """What a repair did with one damaged segment, and what the shard lost by it."""

    key: str
    quarantined: str | None  # where its bytes went; None when nothing was stored
    lost: list[str] | None  # ids no other segment holds; None when its ids could not be read
    reverted: list[str]  # ids whose older version, in an older segment, is live again
    resurrected: list[str]  # ids this segment had deleted, live again from an older segment
    recorded_rows: int | None  # what the manifest (or the segment's key) says it held

    def to_json(self) -> dict[str, Any]:
        return {"segment": self.key, "quarantined": self.quarantined, "lost_ids": self.lost,
                "reverted_ids": self.reverted, "resurrected_ids": self.resurrected,
                "recorded_rows": self.recorded_rows}


def find_shards(storage: Storage) -> list[str]:
    """The prefix of every shard (every manifest) in ``storage``, sorted."""
    shards = []
    for key in storage.list(""):
        if key == MANIFEST or key.endswith("/" + MANIFEST):
            prefix = key[: -len(MANIFEST)]
            if f"/{QUARANTINE}" not in f"/{prefix}":
                shards.append(prefix)
    return shards


def check(storage: Storage, prefix: str) -> ShardCheck:
    """Read every segment the shard's manifest lists and compare it with the record."""
    log = SegmentLog(storage, prefix)
    result = ShardCheck(prefix)
    try:
        manifest = log.manifest()
    except StorageError as exc:
        result.manifest_problem = str(exc)
        return result
    listed = manifest.listed()  # segments and the IVF index's centroid sets
    result.unlisted = sum(1 for key in log.storage.list(SEGMENTS) if key not in listed)
    for key in manifest.segments:
        seg = _check_segment(log.storage, key, manifest.files.get(key))
        if seg.data_missing and key not in log.manifest().segments:
            continue  # a compaction replaced it (and it was collected) while the shard was checked
        result.segments.append(seg)
    sets = (manifest.ivf or {}).get("sets", {})
    for key, record in sets.items():
        problem = _check_centroid_set(log.storage, key, record)
        if problem is not None:
            result.centroid_problems[key] = problem
    for key in manifest.segments:
        info = manifest.files.get(key)
        if info is not None and info.centroids is not None and info.centroids not in sets:
            result.centroid_problems.setdefault(info.centroids, (
                f"unrecorded: segment {key} is assigned to this centroid set, the manifest has no record of it "
                "(its checksum cannot be checked, and it may be collected); a full compaction reassigns the rows"))
    return result


def _check_centroid_set(storage: Storage, key: str, record: dict[str, Any]) -> str | None:
    """What is wrong with an IVF centroid set the manifest lists (None: nothing)."""
    data = storage.get(key)
    if data is None:
        problem = "missing: the manifest lists this centroid set, the storage does not hold it"
    elif len(data) != int(record.get("size", -1)):
        problem = f"centroid set of {len(data):,} bytes, the manifest recorded {record.get('size')}"
    elif zlib.crc32(data) != int(record.get("crc32", -1)):
        problem = (f"centroid set checksum mismatch: crc32 {zlib.crc32(data):08x}, the manifest recorded "
                   f"{int(record.get('crc32', 0)):08x}")
    else:
        try:
            CentroidSet.decode(data)
        except CentroidsDamaged as exc:
            problem = f"centroid set does not parse: {exc}"
        else:
            return None
    return (f"{problem}; approximate searches of the shard fail until it is restored ('exact': true still "
            "answers); --repair does not change it")


def _check_segment(storage: Storage, key: str, recorded: SegmentInfo | None) -> SegmentCheck:
    seg = SegmentCheck(key, recorded=recorded)
    data = storage.get(key)
    if data is None:
        seg.problem = "missing: the manifest lists it, the storage does not hold it"
        seg.data_missing = True
        return seg
    if recorded is None:
        seg.note = "no checksum recorded (published before checksums were): checked that it parses"
    elif len(data) != recorded.size:
        seg.problem = f"size {len(data):,} bytes, the manifest recorded {recorded.size:,}"
    elif zlib.crc32(data) != recorded.crc32:
        seg.problem = f"checksum mismatch: crc32 {zlib.crc32(data):08x}, the manifest recorded {recorded.crc32:08x}"
    if seg.problem is None:
        try:
            loaded = segment_file.decode(key, data)
        except (StorageError, ValueError, TypeError) as exc:  # orjson's decode error is a ValueError
            seg.problem = f"does not parse: {exc}"
        else:
            if recorded is not None and recorded.rows is not None and loaded.rows != recorded.rows:
                seg.problem = f"{loaded.rows} rows, the manifest recorded {recorded.rows}"
            else:
                seg.ids, seg.deleted = loaded.ids, loaded.deleted
                return seg
    seg.ids, seg.deleted = segment_file.salvage(key, data)
    return seg


def repair(storage: Storage, shard: ShardCheck) -> list[Repaired]:
    """Quarantine the shard's damaged segments and publish a manifest without them; what
    each one's removal lost. Segments that are fine, and every other object, stay as they are."""
    damaged = shard.damaged
    if not damaged:
        return []
    if shard.manifest_problem is not None:
        raise StorageError(f"shard {shard.name}: cannot repair, its manifest is unreadable: {shard.manifest_problem}")
    log = SegmentLog(storage, shard.prefix)
    outcome = _losses(shard.segments)
    done = []
    for seg in damaged:
        name = seg.key.rsplit("/", 1)[-1]
        data = log.storage.get(seg.key)
        quarantined = None
        if data is not None:
            quarantined = f"{QUARANTINE}{name}"
            log.storage.put(quarantined, data)  # kept: someone may get more out of it than we did
        lost, reverted, resurrected = outcome[seg.key]
        done.append(Repaired(seg.key, quarantined, lost, reverted, resurrected, _recorded_rows(seg)))
        record = {**done[-1].to_json(), "problem": seg.problem, "shard": shard.name,
                  "repaired_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        log.storage.put(f"{QUARANTINE}{name}.json", orjson.dumps(record, option=orjson.OPT_INDENT_2))
    dropped = {seg.key for seg in damaged}
    log.swap(lambda segments: tuple(key for key in segments if key not in dropped))
    for key in dropped:
        log.storage.delete(key)  # a copy is in quarantine; no manifest lists it any more
    return done


def _recorded_rows(seg: SegmentCheck) -> int | None:
    if seg.recorded is not None and seg.recorded.rows is not None:
        return seg.recorded.rows
    label = seg.key.rsplit("/", 1)[-1].removesuffix(".seg").rsplit("-", 1)[-1]
    return int(label[:-1]) if label.endswith("w") and label[:-1].isdigit() else None


def _live(segments: Sequence[SegmentCheck]) -> dict[str, str]:
    """Live id -> the key of the segment holding it, oldest segment to newest: each one
    removes the ids it deletes, then adds its rows (the newest write of an id wins)."""
    owner: dict[str, str] = {}
    for seg in segments:
        for doc_id in seg.deleted or ():
            owner.pop(doc_id, None)
        owner.update(dict.fromkeys(seg.ids or (), seg.key))
    return owner


def _losses(segments: Sequence[SegmentCheck]) -> dict[str, tuple[list[str] | None, list[str], list[str]]]:
    """Per damaged segment: the ids lost with it (None when its ids are unreadable), those
    whose older version is live again, and those it deleted that are live again."""
    before = _live(segments)
    after = _live([seg for seg in segments if seg.problem is None])
    found: dict[str, tuple[list[str] | None, list[str], list[str]]] = {}
    for seg in segments:
        if seg.problem is None:
            continue
        held = [doc_id for doc_id, key in before.items() if key == seg.key]
        lost = None if seg.ids is None else sorted(doc_id for doc_id in held if doc_id not in after)
        reverted = sorted(doc_id for doc_id in held if doc_id in after)
        resurrected = sorted(doc_id for doc_id in seg.deleted or () if doc_id in after and doc_id not in before)
        found[seg.key] = (lost, reverted, resurrected)
    return found
