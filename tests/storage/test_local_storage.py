"""The storage interface on the local-folder backend, and the segment log over it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from faasflow import Document, DocumentArray, Executor, Flow, requests
from faasflow.storage import StorageError, VersionConflict, open_storage
from faasflow.storage.local import LocalStorage
from faasflow.storage.segments import SegmentLog


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store")


def test_put_get_list_delete(storage: LocalStorage):
    assert storage.get("a/b.json") is None
    storage.put("a/b.json", b"1")
    storage.put("a/c.json", b"2")
    storage.put("z.json", b"3")
    assert storage.get("a/b.json") == b"1"
    assert storage.list() == ["a/b.json", "a/c.json", "z.json"]
    assert storage.list("a/") == ["a/b.json", "a/c.json"]
    storage.delete("a/b.json")
    storage.delete("a/b.json")  # deleting twice is fine
    assert storage.list("a/") == ["a/c.json"]


def test_put_replaces_and_versions_change(storage: LocalStorage):
    v1 = storage.put("k", b"one")
    v2 = storage.put("k", b"two")
    assert v1 != v2 and storage.get_versioned("k") == (b"two", v2)


def test_put_if_absent(storage: LocalStorage):
    storage.put_if_absent("k", b"first")
    with pytest.raises(VersionConflict):
        storage.put_if_absent("k", b"second")
    assert storage.get("k") == b"first"


def test_put_if_version(storage: LocalStorage):
    version = storage.put("k", b"one")
    new_version = storage.put_if_version("k", b"two", version)
    with pytest.raises(VersionConflict):
        storage.put_if_version("k", b"three", version)  # stale version loses
    assert storage.get_versioned("k") == (b"two", new_version)
    with pytest.raises(VersionConflict):
        storage.put_if_version("missing", b"x", version)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_bad_keys_are_named(storage: LocalStorage, key: str):
    with pytest.raises(StorageError, match="invalid storage key"):
        storage.put(key, b"x")


def test_child_scopes_keys(storage: LocalStorage):
    child = storage.child("db/0")
    child.put("x", b"1")
    assert storage.get("db/0/x") == b"1" and child.list() == ["x"]


def test_open_storage_urls(tmp_path: Path):
    assert isinstance(open_storage(str(tmp_path)), LocalStorage)
    assert isinstance(open_storage(tmp_path.as_uri()), LocalStorage)
    assert open_storage("s3://bucket/some/prefix").url == "s3://bucket/some/prefix/"
    with pytest.raises(ValueError, match="unsupported"):
        open_storage("ftp://x/y")


def test_segment_log_appends_and_publishes(storage: LocalStorage):
    log = SegmentLog(storage)
    assert log.manifest().segments == ()
    first = log.append(b"one")
    second = log.append(b"two")
    assert second.generation == first.generation + 1
    manifest = log.manifest()
    assert [log.read(k) for k in manifest.segments] == [b"one", b"two"]


def test_segment_log_concurrent_writers_lose_nothing(storage: LocalStorage):
    logs = [SegmentLog(LocalStorage(storage.root)) for _ in range(8)]

    def write(log: SegmentLog, writer: int) -> None:
        for n in range(10):
            log.append(f"{writer}-{n}".encode())

    threads = [threading.Thread(target=write, args=(log, i)) for i, log in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    manifest = SegmentLog(storage).manifest()
    contents = sorted(SegmentLog(storage).read(k).decode() for k in manifest.segments)
    assert contents == sorted(f"{w}-{n}" for w in range(8) for n in range(10))
    assert manifest.generation == 80


def test_a_segment_written_without_its_manifest_swap_stays_invisible(storage: LocalStorage):
    log = SegmentLog(storage)
    log.append(b"published")
    storage.put("segments/99999999999999999999-orphan.seg", b"crashed before the swap")
    assert [log.read(k) for k in log.manifest().segments] == [b"published"]


def test_corrupt_manifest_is_a_clear_error(storage: LocalStorage):
    storage.put("manifest.json", b"{nope")
    with pytest.raises(StorageError, match="not a valid manifest"):
        SegmentLog(storage).manifest()


def test_executor_storage_is_per_executor_and_shard_in_the_workspace(tmp_path: Path):
    class Keeps(Executor):
        @requests
        def run(self, docs, **kwargs):
            self.storage.put(f"{docs[0].id}.txt", b"kept")

    with Flow(workspace=str(tmp_path)).add(uses=Keeps, name="keeps", shards=2) as flow:
        flow.post("/x", [Document(id=f"d{i}") for i in range(10)], request_size=1)
    stored = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.txt"))
    assert len(stored) == 10
    assert all(path.startswith(("keeps/0/state/", "keeps/1/state/")) for path in stored)


def test_executor_storage_url_from_runtime_args(tmp_path: Path):
    class Plain(Executor):
        pass

    ex = Plain(runtime_args={"name": "db", "shard_id": 2, "storage_url": str(tmp_path / "shared")})
    ex.storage.put("k", b"v")
    assert (tmp_path / "shared" / "db" / "2" / "k").read_bytes() == b"v"


def test_doc_store_state_is_seen_by_a_second_instance(tmp_path: Path):
    from functions.doc_store import DocStore

    writer = DocStore(workspace=str(tmp_path), runtime_args={"name": "db"})
    reader = DocStore(workspace=str(tmp_path), runtime_args={"name": "db"})
    docs = DocumentArray([Document(id=str(i), text=f"line {i}") for i in range(5)]).apply(
        Document.embed_feature_hashing
    )
    assert reader.count()["count"] == 0
    writer.index(docs=docs)
    assert reader.count()["count"] == 5
    writer.index(docs=docs[:2])  # re-indexing updates, never duplicates
    assert reader.count()["count"] == 5
