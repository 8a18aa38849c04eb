"""What only the local-folder backend and executors' storage do (the shared storage suite,
tests/storage/storage_suite.py, runs on both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faasflow import Document, DocumentArray, Executor, Flow, requests
from faasflow.storage import StorageError, open_storage
from faasflow.storage.local import LocalStorage
from faasflow.storage.segments import SegmentLog


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store")


def test_put_replaces_and_versions_change(storage: LocalStorage):
    v1 = storage.put("k", b"one")
    v2 = storage.put("k", b"two")
    assert v1 != v2 and storage.get_versioned("k") == (b"two", v2)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_bad_keys_are_named(storage: LocalStorage, key: str):
    with pytest.raises(StorageError, match="invalid storage key"):
        storage.put(key, b"x")


def test_open_storage_urls(tmp_path: Path):
    assert isinstance(open_storage(str(tmp_path)), LocalStorage)
    assert isinstance(open_storage(tmp_path.as_uri()), LocalStorage)
    assert open_storage("s3://bucket/some/prefix").url == "s3://bucket/some/prefix/"
    with pytest.raises(ValueError, match="unsupported"):
        open_storage("ftp://x/y")


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
