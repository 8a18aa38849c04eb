"""One test suite for every storage backend: the storage interface, the segment log, the
segment file and a shard index over them, including concurrent and crashing writers.

A test module imports these tests and defines a ``backend`` fixture: the local-folder
backend in tests/storage, S3 on the emulator in tests/emulator. Writer processes are
started with ``spawn``: each opens the storage from its URL, as another container would.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import orjson
import pytest

from faasflow import Document
from faasflow.codec import document_to_dict, dumps
from faasflow.index import segment as segment_file
from faasflow.index.shard import ShardIndex
from faasflow.storage import StorageError, VersionConflict, open_storage
from faasflow.storage.base import Storage
from faasflow.storage.segments import MANIFEST, SegmentLog, SegmentsChanged

DIM = 8


@dataclass
class Backend:
    """A fresh, empty place to store things, and how another process reaches it."""

    storage: Storage
    url: str
    env: dict[str, str] = field(default_factory=dict)
    reopen: Callable[[], Storage] | None = None  # a new client for the same place: another container

    def other(self) -> Storage:
        return self.reopen() if self.reopen else open_storage(self.url)


def vector(doc_id: str) -> np.ndarray:
    """A fixed embedding per id (the same in every process)."""
    seed = int.from_bytes(doc_id.encode()[:8].ljust(8, b"\0"), "little") ^ len(doc_id)
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def rows(ids: list[str], version: int = 0, tags: bool = False):
    """ShardIndex.upsert arguments for ``ids`` (embedding shifted by ``version``)."""
    docs = [Document(id=i, text=f"{i} v{version}", tags={"v": version, "even": int(i[-1]) % 2 == 0} if tags else None)
            for i in ids]
    matrix = np.stack([vector(i) + version for i in ids]) if ids else np.empty((0, DIM), np.float32)
    return ids, matrix, [dumps(document_to_dict(d, embedding=False)) for d in docs], (
        [d.tags for d in docs] if tags else None
    )


# --- the storage interface --------------------------------------------------------------


def test_put_get_list_delete(backend: Backend):
    storage = backend.storage
    assert storage.get("a/b.bin") is None and storage.get_versioned("a/b.bin") is None
    storage.put("a/b.bin", b"1")
    storage.put("a/c.bin", b"2")
    storage.put("z.bin", b"3")
    assert storage.get("a/b.bin") == b"1"
    assert storage.list() == ["a/b.bin", "a/c.bin", "z.bin"]
    assert storage.list("a/") == ["a/b.bin", "a/c.bin"]
    storage.delete("a/b.bin")
    storage.delete("a/b.bin")  # twice is fine
    assert storage.list("a/") == ["a/c.bin"]


def test_get_range(backend: Backend):
    storage = backend.storage
    storage.put("blob", bytes(range(100)))
    assert storage.get_range("blob", 0, 10) == bytes(range(10))
    assert storage.get_range("blob", 95, 10) == bytes(range(95, 100))  # fewer at the end
    assert storage.get_range("blob", 100, 10) == b""  # past the end: nothing, not None
    assert storage.get_range("blob", 5, 0) == b""
    assert storage.get_range("missing", 0, 10) is None
    with pytest.raises(StorageError):
        storage.get_range("blob", -1, 10)


def test_conditional_writes(backend: Backend):
    storage, other = backend.storage, backend.other()
    version = storage.put_if_absent("k", b"first")
    with pytest.raises(VersionConflict):
        other.put_if_absent("k", b"second")
    assert other.get_versioned("k") == (b"first", version)
    newer = other.put_if_version("k", b"two", version)
    with pytest.raises(VersionConflict):
        storage.put_if_version("k", b"three", version)  # a stale version loses
    assert storage.get_versioned("k") == (b"two", newer)
    with pytest.raises(VersionConflict):
        storage.put_if_version("missing", b"x", newer)


def test_child_scopes_keys(backend: Backend):
    child = backend.storage.child("db/0")
    child.put("x", b"1")
    assert backend.storage.get("db/0/x") == b"1" and child.list() == ["x"]


# --- the segment log --------------------------------------------------------------------


def test_segments_are_published_in_order_and_runs_replaced(backend: Backend):
    log = SegmentLog(backend.storage)
    keys = [log.write(f"s{n}".encode()) for n in range(4)]
    assert log.manifest().segments == ()  # written, not yet visible
    log.publish(keys[0])
    log.publish(*keys[1:])
    assert log.manifest().segments == tuple(keys)
    merged = log.write(b"merged")
    manifest = log.replace(keys[1:3], merged)
    assert manifest.segments == (keys[0], merged, keys[3]) == log.manifest().segments
    with pytest.raises(SegmentsChanged):
        log.replace(keys[1:3], log.write(b"late"))  # another compaction got there first
    assert SegmentLog(backend.other()).manifest().segments == (keys[0], merged, keys[3])


def test_collect_deletes_only_unlisted_segments_past_the_grace_period(backend: Backend):
    log = SegmentLog(backend.storage)
    kept = log.publish(log.write(b"published")).segments[0]
    orphan = log.write(b"crashed before its manifest swap")
    assert log.collect(min_age_s=3600) == []  # too young: it may be a write in flight
    assert log.collect(min_age_s=0) == [orphan]
    assert backend.storage.list("segments/") == [kept]


def test_concurrent_writer_threads_lose_nothing(backend: Backend):
    logs = [SegmentLog(backend.other()) for _ in range(8)]

    def write(log: SegmentLog, writer: int) -> None:
        for n in range(4):
            log.append(f"{writer}-{n}".encode())

    threads = [threading.Thread(target=write, args=(log, i)) for i, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = SegmentLog(backend.storage)
    manifest = log.manifest()
    assert sorted(log.read(k).decode() for k in manifest.segments) == sorted(
        f"{w}-{n}" for w in range(8) for n in range(4)
    )
    assert manifest.generation == 32


# --- the segment file -------------------------------------------------------------------


@pytest.mark.parametrize("part_bytes", [1 << 20, 200])  # whole, and in many ranged parts
def test_segment_file_round_trip(backend: Backend, part_bytes: int, monkeypatch: pytest.MonkeyPatch):
    ids = [f"d{i}" for i in range(300)]
    args = rows(ids, tags=True)
    data = segment_file.encode(*args, deleted=["gone", "also-gone"])
    backend.storage.put("segments/x.seg", data)
    monkeypatch.setattr(segment_file, "FIRST_READ", 4096)  # a large segment: header first
    loaded = segment_file.load(backend.storage, "segments/x.seg", part_bytes=part_bytes)
    assert loaded.ids == ids and loaded.deleted == ["gone", "also-gone"] and loaded.dim == DIM
    assert len(loaded.parts) == 1 and np.array_equal(loaded.parts[0], args[1])  # parts land in one matrix
    assert [loaded.doc_json(r) for r in range(300)] == args[2]
    assert loaded.tags == args[3] and loaded.filter_mask({"even": True}).sum() == 150
    assert np.array_equal(loaded.embeddings(np.array([299, 0, 150])), args[1][[299, 0, 150]])
    with pytest.raises(segment_file.SegmentMissing):
        segment_file.load(backend.storage, "segments/none.seg")
    backend.storage.put("segments/bad.seg", b"not a segment at all")
    with pytest.raises(segment_file.SegmentFormatError):
        segment_file.load(backend.storage, "segments/bad.seg")


# --- a shard index ----------------------------------------------------------------------


def brute_force(model: dict[str, np.ndarray], query: np.ndarray, k: int) -> list[str]:
    ids = list(model)
    if not ids:
        return []
    scores = np.stack([model[i] for i in ids]) @ query
    return [ids[p] for p in np.lexsort((np.arange(len(ids)), -scores))[:k]]


def test_shard_index_upserts_deletes_and_compacts_like_a_dict(backend: Backend):
    index = ShardIndex(backend.storage, max_segments=4, merge_factor=3, collect_after_s=0)
    model: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(7)
    for step in range(14):
        ids = [f"d{n}" for n in rng.choice(40, size=int(rng.integers(1, 8)), replace=False)]
        if step % 4 == 3:
            index.delete(ids)
            for i in ids:
                model.pop(i, None)
        else:
            index.upsert(*rows(ids, version=step))
            model.update({i: vector(i) + step for i in ids})
    assert len(index.log.manifest().segments) <= 4  # compaction kept the count down
    index.compact(full=True)
    for reader in (index, ShardIndex(backend.other())):  # warm writer, cold reader
        assert reader.count() == len(model)
        for query_id in ("d1", "d17", "d33"):
            query = vector(query_id)
            hits = reader.search(query[None, :], 5, "dot")[0]
            assert [seg.ids[row] for seg, row, _ in hits] == brute_force(model, query, 5)
            assert [v for _, _, v in hits] == pytest.approx([float(model[seg.ids[r]] @ query) for seg, r, _ in hits],
                                                            rel=1e-5)
    assert len(index.log.manifest().segments) == 1
    assert backend.storage.list("segments/") == list(index.log.manifest().segments)  # the rest collected


def test_a_warm_reader_loads_only_new_segments(backend: Backend, monkeypatch: pytest.MonkeyPatch):
    writer, reader = ShardIndex(backend.storage), ShardIndex(backend.other())
    loaded: list[str] = []
    real_load = segment_file.load

    def counting_load(storage, key, part_bytes=segment_file.PART_BYTES):
        loaded.append(key)
        return real_load(storage, key, part_bytes)

    monkeypatch.setattr(segment_file, "load", counting_load)
    writer.upsert(*rows(["a", "b"]))
    writer.upsert(*rows(["c"]))
    assert reader.count() == 3 and len(loaded) == 2
    assert reader.count() == 3 and len(loaded) == 2  # unchanged manifest: nothing loaded
    writer.upsert(*rows(["a"], version=1))  # replaces a
    writer.delete(["b"])
    assert reader.count() == 2 and len(loaded) == 4  # only the two new segments
    hits = reader.search(vector("a")[None, :] + 1, 3, "euclidean")[0]
    assert [seg.ids[row] for seg, row, _ in hits] == ["a", "c"] and hits[0][2] == pytest.approx(0, abs=1e-3)
    assert writer.count() == 2 and len(loaded) == 4  # the writer never reads back its own writes


def test_filters_and_tombstones_in_a_search(backend: Backend):
    index = ShardIndex(backend.storage)
    index.upsert(*rows([f"d{i}" for i in range(10)], tags=True))
    index.delete(["d2"])
    query = vector("d2")[None, :]
    hits = index.search(query, 10, "cosine", {"even": True})[0]
    assert sorted(seg.ids[row] for seg, row, _ in hits) == ["d0", "d4", "d6", "d8"]
    assert index.search(query, 10, "cosine", {"even": True, "v": 1})[0] == []


# --- concurrent and crashing writer processes --------------------------------------------


def write_batches(url: str, env: dict[str, str], writer: int, batches: int, per_batch: int) -> None:
    """A writer process: ``batches`` upserts of its own ids, and of one id every writer shares."""
    os.environ.update(env)
    index = ShardIndex(open_storage(url), max_segments=6, merge_factor=3)
    for batch in range(batches):
        ids = [f"w{writer}-{batch}-{n}" for n in range(per_batch)] + ["shared"]
        index.upsert(*rows(ids, version=writer))


def write_then_crash(url: str, env: dict[str, str]) -> None:
    """Publishes one batch, then dies between storing the next segment and publishing it."""
    os.environ.update(env)
    index = ShardIndex(open_storage(url))
    index.upsert(*rows(["kept-1", "kept-2"]))
    SegmentLog.after_write = lambda key: os._exit(17)
    index.upsert(*rows(["lost-1", "kept-1"], version=5))


def run_processes(target, arguments: list[tuple]) -> list[int]:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=args) for args in arguments]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    return [process.exitcode for process in processes]


def test_eight_writer_processes_upserting_into_one_shard(backend: Backend):
    batches, per_batch = 3, 4
    codes = run_processes(write_batches, [(backend.url, backend.env, w, batches, per_batch) for w in range(8)])
    assert codes == [0] * 8
    manifest = orjson.loads(backend.storage.get(MANIFEST))  # a valid manifest...
    index = ShardIndex(backend.other())
    assert list(index.log.manifest().segments) == manifest["segments"]
    view = index.view()
    expected = {f"w{w}-{b}-{n}" for w in range(8) for b in range(batches) for n in range(per_batch)} | {"shared"}
    live = [seg.ids[row] for seg, mask in zip(view.segments, view.masks)
            for row in (range(seg.rows) if mask is None else np.flatnonzero(mask))]
    assert sorted(live) == sorted(expected)  # ...and every doc exactly once
    assert index.count() == len(expected)
    hits = index.search(vector("w3-1-2")[None, :] + 3, 1, "euclidean")[0]  # writer 3 wrote it
    assert hits[0][0].ids[hits[0][1]] == "w3-1-2"


def test_a_writer_killed_between_segment_and_manifest_loses_nothing(backend: Backend):
    assert run_processes(write_then_crash, [(backend.url, backend.env)]) == [17]
    index = ShardIndex(backend.other(), collect_after_s=0)
    assert index.count() == 2  # the first batch, and nothing of the second
    hits = index.search(vector("kept-1")[None, :], 5, "dot")[0]
    assert sorted(seg.ids[row] for seg, row, _ in hits) == ["kept-1", "kept-2"]
    assert [seg.doc_dict(row)["text"] for seg, row, _ in hits if seg.ids[row] == "kept-1"] == ["kept-1 v0"]
    stored = backend.storage.list("segments/")
    assert len(stored) == 2 and len(index.log.manifest().segments) == 1  # one orphan, unlisted
    index.upsert(*rows(["after"]))  # the shard takes writes as before
    assert index.log.collect(min_age_s=0) == [k for k in stored if k not in index.log.manifest().segments]
    assert index.count() == 3
