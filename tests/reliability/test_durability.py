"""A shard's storage survives crashes and damage, and its garbage stays bounded: local
writes are fsynced (file before its rename, folder after); the manifest records each
segment's size, checksum and rows; ``faasflow fsck`` finds a damaged segment and, with
``--repair``, quarantines it, names the ids lost and makes the shard serve again; and
compaction collects the segments it retired, never one a reader may still load."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from faasflow import Document, DocumentArray, Flow
from faasflow.cli import main
from faasflow.codec import document_to_dict, dumps
from faasflow.errors import FlowError
from faasflow.index import SegmentFormatError
from faasflow.index.check import check, find_shards, repair
from faasflow.index.shard import ShardIndex
from faasflow.sharding import shard_of
from faasflow.storage.base import Storage
from faasflow.storage.local import FSYNC_ENV, LocalStorage
from faasflow.storage.segments import MANIFEST, RETIRED_AFTER_S, SEGMENTS, SegmentLog
from tests.support.results import per_shard

ROOT = Path(__file__).resolve().parents[2]
DIM = 8
SHARDS = 2
POLLING = {"/search": "ALL", "/count": "ALL", "*": "ANY"}


def vector(doc_id: str, version: int = 0) -> np.ndarray:
    seed = zlib.crc32(doc_id.encode()) + version
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def upsert(index: ShardIndex, ids: list[str], version: int = 0) -> None:
    docs = [dumps(document_to_dict(Document(id=i, text=f"{i} v{version}"), embedding=False)) for i in ids]
    index.upsert(ids, np.stack([vector(i, version) for i in ids]), docs)


def docs(ids: list[str], version: int = 0) -> DocumentArray:
    return DocumentArray(Document(id=i, text=f"{i} v{version}", embedding=vector(i, version)) for i in ids)


def fsck(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(["fsck", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# --- fsync ------------------------------------------------------------------------------


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path | None]]:
    """Each fsync as ('dir', None) or ('file', the file's path), in order."""
    calls: list[tuple[str, Path | None]] = []
    real = os.fsync

    def record(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            calls.append(("dir", None))
        else:
            calls.append(("file", Path(os.readlink(f"/proc/self/fd/{fd}"))))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return calls


def test_a_write_fsyncs_the_file_before_publishing_it_and_the_folder_after(
    tmp_path: Path, fsyncs: list[tuple[str, Path | None]]
):
    storage = LocalStorage(tmp_path)
    storage.put("a/one", b"first")  # a new folder: its parent is synced first
    assert [kind for kind, _ in fsyncs] == ["dir", "file", "dir"]
    synced = fsyncs[1][1]
    assert synced is not None and synced.parent == tmp_path / "a" and synced.name != "one"  # the temp file

    for write in (lambda: storage.put("a/two", b"x"), lambda: storage.put_if_absent("a/three", b"y")):
        fsyncs.clear()
        write()
        assert [kind for kind, _ in fsyncs] == ["file", "dir"]
    version = storage.get_versioned("a/three")
    assert version is not None
    fsyncs.clear()
    storage.put_if_version("a/three", b"z", version[1])
    assert [kind for kind, _ in fsyncs] == ["file", "dir"]


def test_fsync_can_be_switched_off_for_benchmarks(
    tmp_path: Path, fsyncs: list[tuple[str, Path | None]], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(FSYNC_ENV, "0")
    index = ShardIndex(LocalStorage(tmp_path))
    upsert(index, ["a", "b"])
    assert fsyncs == []
    assert index.count() == 2
    monkeypatch.setenv(FSYNC_ENV, "1")
    upsert(index, ["c"])
    assert [kind for kind, _ in fsyncs] == ["file", "dir", "file", "dir"]  # the segment, then the manifest


# --- checksums in the manifest ----------------------------------------------------------


def test_the_manifest_records_each_segments_size_checksum_and_rows(tmp_path: Path):
    storage = LocalStorage(tmp_path)
    index = ShardIndex(storage, max_segments=2, merge_factor=3)
    upsert(index, ["a", "b", "c"])
    index.delete(["b"])
    upsert(index, ["d"])
    index.compact(full=True)
    upsert(index, ["e", "f"])
    manifest = SegmentLog(LocalStorage(tmp_path)).manifest()  # as a fresh process reads it
    assert len(manifest.segments) == 2 and manifest.files.keys() == set(manifest.segments)
    for key, rows in zip(manifest.segments, (3, 2)):  # the compaction's segment, then the last write
        data = storage.get(key)
        assert data is not None
        info = manifest.files[key]
        assert (info.size, info.crc32, info.rows) == (len(data), zlib.crc32(data), rows)


def test_a_manifest_written_before_checksums_still_loads_and_fsck_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    shard = tmp_path / "idx" / "0" / "state"
    upsert(ShardIndex(LocalStorage(shard)), ["a", "b"])
    old = orjson.loads((shard / MANIFEST).read_bytes())
    del old["files"]
    (shard / MANIFEST).write_bytes(orjson.dumps(old))

    fresh = ShardIndex(LocalStorage(shard))
    assert fresh.count() == 2 and fresh.log.manifest().files == {}
    code, out, _ = fsck(capsys, str(tmp_path))
    assert code == 0
    assert any(line.startswith("idx/0/state: segments/") and "no checksum recorded" in line for line in out)
    assert out[-1] == "checked 1 shard(s), 1 segment(s): no problems"

    upsert(fresh, ["c"])  # a write to an old shard records its own segment, not the old one's
    assert set(fresh.log.manifest().files) == {fresh.log.manifest().segments[-1]}


def test_a_flipped_byte_is_a_checksum_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    shard = tmp_path / "idx" / "0" / "state"
    index = ShardIndex(LocalStorage(shard))
    upsert(index, ["a", "b"])
    key = index.log.manifest().segments[0]
    path = shard / key
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF  # in the documents: the segment still parses
    path.write_bytes(bytes(data))
    code, out, _ = fsck(capsys, str(tmp_path))
    assert code == 1
    assert f"idx/0/state: {key}: checksum mismatch: crc32 {zlib.crc32(data):08x}" in out[0]
    assert out[-2:] == ["checked 1 shard(s), 1 segment(s): 1 problem(s)",
                        "run again with --repair to quarantine the damaged segments"]


# --- fsck and repair, end to end ----------------------------------------------------------


def flow_over(workspace: Path) -> Flow:
    return Flow(workspace=str(workspace)).add(
        uses="faasflow.executors.VectorIndexer", name="idx", shards=SHARDS, polling=POLLING
    )


def all_ids(flow: Flow) -> list[str]:
    found = flow.post("/search", docs(["query"]), parameters={"limit": 1000})
    return sorted(m.id for m in found[0].matches)


def counts(flow: Flow) -> list[int]:
    results = flow.post("/count", return_responses=True)[0].parameters["__results__"]
    return [c["count"] for c in per_shard(results, "idx")]


def test_a_truncated_segment_is_reported_repaired_and_the_shard_serves_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    first = [f"a{n}" for n in range(30)]
    second = [f"b{n}" for n in range(30)]
    third = [f"c{n}" for n in range(20)]
    again = first[:10]  # rewritten by the third write: their older version survives a repair
    with flow_over(tmp_path) as flow:
        flow.post("/index", docs(first))
        flow.post("/index", docs(second))
        flow.post("/index", docs(third + again, version=1))
    shard = tmp_path / "idx" / "0" / "state"
    newest = SegmentLog(LocalStorage(shard)).manifest().segments[-1]
    truncate(shard / newest, keep=0.6)

    with flow_over(tmp_path) as flow:  # a fresh process: nothing cached
        for endpoint in ("/search", "/count"):
            with pytest.raises(FlowError) as caught:
                flow.post(endpoint, docs(["query"]))
            cause = caught.value.cause
            assert isinstance(cause, SegmentFormatError), repr(cause)
            assert newest in str(cause) and "faasflow fsck --repair" in str(cause)

        code, out, err = fsck(capsys, str(tmp_path))
        assert code == 1 and err == ""
        assert out[0].startswith(f"idx/0/state: {newest}: size ")
        assert out[-2] == "checked 2 shard(s), 6 segment(s): 1 problem(s)"

        code, out, _ = fsck(capsys, str(tmp_path), "--repair")
        lost = sorted(i for i in third if shard_of(i, SHARDS) == 0)
        reverted = sorted(i for i in again if shard_of(i, SHARDS) == 0)
        assert code == 0
        assert f"idx/0/state: {newest}: dropped from the manifest, moved to quarantine/{newest[len(SEGMENTS):]}" in out
        assert f"idx/0/state: {newest}: {len(lost)} doc(s) lost: {', '.join(lost)}" in out
        assert f"idx/0/state: {newest}: {len(reverted)} older version(s) live again: {', '.join(reverted)}" in out
        assert out[-1] == f"repaired: 1 segment(s) quarantined, {len(lost)} doc(s) lost"

        # the same Flow serves again: every doc but the lost ones, the rewritten ones as they were
        everything = sorted(set(first + second + third))
        assert all_ids(flow) == sorted(set(everything) - set(lost))
        assert sum(counts(flow)) == len(everything) - len(lost)
        hits = flow.post("/search", docs(reverted[:1]), parameters={"limit": 1})[0].matches
        assert [(m.id, m.text) for m in hits] == [(reverted[0], f"{reverted[0]} v0")]

    record = orjson.loads((shard / "quarantine" / f"{newest[len(SEGMENTS):]}.json").read_bytes())
    assert record["lost_ids"] == lost and record["segment"] == newest and record["problem"].startswith("size ")
    assert (shard / "quarantine" / newest[len(SEGMENTS):]).stat().st_size > 0
    assert not (shard / newest).exists()
    assert fsck(capsys, str(tmp_path))[0] == 0  # and the workspace is clean now


def test_a_segment_whose_ids_are_unreadable_says_how_many_rows_are_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    shard = tmp_path / "idx" / "0" / "state"
    index = ShardIndex(LocalStorage(shard))
    upsert(index, ["a", "b"])
    upsert(index, ["c", "d", "e"])
    index.delete(["a"])
    damaged = index.log.manifest().segments[1]
    truncate(shard / damaged, keep=0.001)  # not even its header is left

    found = check(LocalStorage(tmp_path), "idx/0/state/")
    assert [seg.key for seg in found.damaged] == [damaged]
    code, out, _ = fsck(capsys, str(tmp_path), "--repair", "--json")
    report = orjson.loads("\n".join(out))
    assert code == 0 and report["repaired"] is True
    assert report["repairs"] == [{
        "shard": "idx/0/state", "segment": damaged, "quarantined": f"quarantine/{damaged[len(SEGMENTS):]}",
        "lost_ids": None, "reverted_ids": [], "resurrected_ids": [], "recorded_rows": 3,
    }]
    assert ShardIndex(LocalStorage(shard)).count() == 1  # 'b': 'a' is still deleted by the newer segment

    upsert(index, ["f"])
    newest = index.log.manifest().segments[-1]
    (shard / newest).unlink()  # a missing segment is repaired the same way, with nothing to keep
    [done] = repair(LocalStorage(tmp_path), check(LocalStorage(tmp_path), "idx/0/state/"))
    assert (done.key, done.quarantined, done.lost, done.recorded_rows) == (newest, None, None, 1)


def test_a_dropped_tombstone_brings_the_deleted_docs_back_and_says_so(tmp_path: Path):
    storage = LocalStorage(tmp_path)
    index = ShardIndex(storage)
    upsert(index, ["a", "b", "c"])
    index.delete(["b"])
    tombstones = index.log.manifest().segments[-1]
    storage.put(tombstones, (storage.get(tombstones) or b"") + b"junk")  # the wrong size; its sections still read
    [done] = repair(storage, check(storage, ""))
    assert (done.lost, done.reverted, done.resurrected) == ([], [], ["b"])
    assert ShardIndex(LocalStorage(tmp_path)).count() == 3


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: str(tmp / "nowhere"), "no such workspace folder: {path}"),
        (lambda tmp: str(tmp), "{path} is not a faasflow workspace: no shard manifest (manifest.json) under it"),
        (lambda tmp: (tmp / "f.txt").write_text("x") and str(tmp / "f.txt"),
         "{path} is a file, not a workspace folder"),
    ],
)
def test_fsck_of_a_path_that_is_no_workspace_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
):
    path = make(tmp_path)
    code, out, err = fsck(capsys, path)
    assert (code, out, err.splitlines()) == (2, [], [f"faasflow: error: {message.format(path=path)}"])


def test_fsck_of_s3_without_boto3_names_the_extra():
    code = "import sys\nsys.modules['boto3'] = None\nfrom faasflow.cli import main\nsys.exit(main(['fsck', 's3://b/p/']))\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "faasflow: error: faasflow fsck needs the 'aws' extra: pip install 'faasflow[aws]'\n"


# --- garbage stays bounded ---------------------------------------------------------------


def stored_segments(storage: Storage) -> list[str]:
    return storage.list(SEGMENTS)


def test_compaction_collects_what_it_retired_and_nothing_a_reader_or_writer_needs(tmp_path: Path):
    storage = LocalStorage(tmp_path)
    index = ShardIndex(storage, max_segments=4, merge_factor=3, retired_after_s=0)
    in_flight = index.log.write(b"a write not yet published")  # younger than collect_after_s: kept
    reader = ShardIndex(LocalStorage(tmp_path))
    upsert(reader, ["r0"])
    old = reader.log.manifest()
    reader.view(old)
    model: set[str] = {"r0"}
    worst = 0
    for step in range(150):
        ids = [f"d{(step * 7 + n) % 120}" for n in range(3)]
        if step % 10 == 9:
            index.delete(ids[:1])
            model.discard(ids[0])
        else:
            upsert(index, ids, version=step)
            model.update(ids)
        listed = len(index.log.manifest().segments)
        garbage = len(stored_segments(storage)) - listed
        worst = max(worst, garbage)
    assert in_flight in stored_segments(storage)
    assert worst <= 1 + 3, f"{worst} unlisted segments at worst"  # the write in flight, one compaction's run
    assert index.count() == len(model)
    fresh = ShardIndex(LocalStorage(tmp_path))
    assert fresh.count() == len(model)
    assert sorted(fresh.view().id_map()) == sorted(model)
    # a warm reader still on the old manifest moves on to the new one
    assert reader.count() == len(model)


def test_a_retired_segment_is_kept_for_the_grace_period(tmp_path: Path):
    storage = LocalStorage(tmp_path)
    index = ShardIndex(storage, max_segments=2, merge_factor=2)  # the default grace, RETIRED_AFTER_S
    upsert(index, ["a"])
    old = index.log.manifest()
    for n in range(6):
        upsert(index, [f"b{n}"])
    manifest = index.log.manifest()
    assert set(old.segments) <= set(manifest.retired)  # retired, with when
    assert set(old.segments) <= set(stored_segments(storage))  # and still stored
    cold = ShardIndex(LocalStorage(tmp_path))
    assert cold.view(old).live == 1  # a reader on the old manifest loads it without a retry
    later = max(manifest.retired.values()) + RETIRED_AFTER_S + 1
    deleted = index.log.collect(now=later)
    assert set(deleted) == set(manifest.retired) and set(old.segments) <= set(deleted)
    assert sorted(stored_segments(storage)) == sorted(manifest.segments)
    upsert(index, ["c"])  # the next swap forgets what was collected
    assert index.log.manifest().retired == {}


def test_a_storage_walk_finds_every_shard_and_skips_the_quarantine(tmp_path: Path):
    for name in ("idx/0/state", "idx/1/state", "other/0/state"):
        upsert(ShardIndex(LocalStorage(tmp_path / name)), ["a"])
    (tmp_path / "idx/0/state/quarantine").mkdir()
    (tmp_path / "idx/0/state/quarantine" / MANIFEST).write_bytes(b"{}")
    assert find_shards(LocalStorage(tmp_path)) == ["idx/0/state/", "idx/1/state/", "other/0/state/"]
    assert find_shards(LocalStorage(tmp_path / "idx/1/state")) == [""]


def test_compaction_never_launders_a_damaged_segment(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A segment whose bytes changed (a flipped bit that still parses) is not merged into a
    fresh, valid one: the write that triggered compaction still succeeds, fsck still sees it."""
    from faasflow.storage.local import LocalStorage

    storage = LocalStorage(str(tmp_path / "idx" / "0"))
    index = ShardIndex(storage, max_segments=2, merge_factor=2)
    upsert(index, ["a", "b"])
    damaged = index.log.manifest().segments[-1]
    data = bytearray(storage.get(damaged) or b"")
    from faasflow.index.segment import _parse_header

    offset, _ = _parse_header(damaged, bytes(data))["sections"]["embeddings"]
    data[offset] ^= 0x01  # a bit of an embedding: the segment still parses
    storage.put(damaged, bytes(data))
    fresh = ShardIndex(LocalStorage(str(tmp_path / "idx" / "0")), max_segments=2, merge_factor=2)
    for n in range(4):
        upsert(fresh, [f"c{n}"])  # each write would compact: none may fail, none may merge the damaged one
    assert damaged in fresh.log.manifest().segments
    assert fresh.count() == 6
    code, out, _ = fsck(capsys, str(tmp_path))
    assert code == 1 and any(line.startswith(f"idx/0: {damaged}: ") for line in out), out
