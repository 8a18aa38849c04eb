"""The IVF index of a shard: recall, exactness on demand, writes under an index, retraining,
cold reads of only the probed lists, the cache bound, and damage reported, never answered."""

from __future__ import annotations

import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from faasflow import Document
from faasflow.cli import main as cli_main
from faasflow.codec import document_to_dict, dumps
from faasflow.index import ivf
from faasflow.index import segment as segment_file
from faasflow.index.approximate import SearchReport
from faasflow.index.check import check
from faasflow.index.lists import IvfSegment
from faasflow.index.segment import FIRST_READ, SegmentFormatError
from faasflow.index.shard import NprobeOutOfRange, ShardIndex, drift_ratio
from faasflow.storage.local import LocalStorage
from faasflow.storage.segments import SegmentLog

DIM = 32
OPTIONS: dict[str, Any] = {"ivf_min_rows": 3000, "nlist": 32, "nprobe": 4}


def clustered(rows: int, seed: int, centres: int = 64, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(99).standard_normal((centres, DIM)).astype(np.float32) + shift
    data = means[rng.integers(0, centres, rows)] + 0.35 * rng.standard_normal((rows, DIM)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def write(index: ShardIndex, start: int, matrix: np.ndarray, tagged: bool = False) -> list[str]:
    ids = [f"d{start + i}" for i in range(len(matrix))]
    tags = [{"parity": (start + i) % 2} for i in range(len(matrix))] if tagged else None
    docs = [dumps(document_to_dict(Document(id=doc_id), embedding=False)) for doc_id in ids]
    index.upsert(ids, matrix, docs, tags)
    return ids


def hit_ids(found: list[list[tuple[Any, int, float]]]) -> list[list[str]]:
    return [[seg.ids[row] for seg, row, _ in hits] for hits in found]


def recall(got: list[list[str]], want: list[list[str]]) -> float:
    return float(np.mean([len(set(g) & set(w)) / max(len(w), 1) for g, w in zip(got, want)]))


class CountingStorage:
    """A local storage seen as object storage: ranged reads only (no memory map), counted."""

    file_path = None  # no memory map: every byte is a ranged read

    def __init__(self, inner: LocalStorage):
        self.inner = inner
        self.range_bytes = 0
        self.range_reads = 0
        self.gets: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get(self, key: str) -> bytes | None:
        self.gets.append(key)
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        data = self.inner.get_range(key, start, length)
        self.range_bytes += len(data or b"")
        self.range_reads += 1
        return data

    def child(self, prefix: str) -> CountingStorage:
        return CountingStorage(self.inner.child(prefix))


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return clustered(8000, seed=1)


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return clustered(40, seed=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, data: np.ndarray) -> Path:
    root = tmp_path_factory.mktemp("ivf")
    write(ShardIndex(LocalStorage(root), **OPTIONS), 0, data, tagged=True)
    return root


def test_recall_on_clustered_data_at_nprobe_4(built: Path, data: np.ndarray, queries: np.ndarray):
    index = ShardIndex(LocalStorage(built), **OPTIONS)
    manifest = index.log.manifest()
    assert manifest.ivf is not None and len(manifest.ivf["sets"]) == 1
    assert isinstance(index.view().segments[0], IvfSegment)
    truth = np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :10]
    want = [[f"d{i}" for i in row] for row in truth]
    report = SearchReport()
    found = index.search(queries, 10, "dot", report=report)
    assert recall(hit_ids(found), want) >= 0.95  # nprobe 4 of 32 lists
    assert not report.exact and report.nprobe == 4 and report.lists_probed == 4 * len(queries)
    one = SearchReport()
    index.search(queries[:1], 10, "dot", report=one)  # one query scans its 4 lists of 32
    assert one.lists_probed == 4 and one.vectors_scanned < 0.3 * len(data)
    for hits in found:  # values are exact: re-ranked on float32
        for seg, row, value in hits:
            assert value == pytest.approx(float(seg.embedding(row) @ queries[found.index(hits)]), abs=1e-5)


@pytest.mark.parametrize("metric", ["dot", "cosine", "euclidean"])
def test_exact_search_is_unchanged_by_the_index(built: Path, tmp_path: Path, data: np.ndarray,
                                                queries: np.ndarray, metric: str):
    flat = ShardIndex(LocalStorage(tmp_path), ivf_min_rows=10**9)
    write(flat, 0, data)
    index = ShardIndex(LocalStorage(built), **OPTIONS)
    got = index.search(queries, 10, metric, exact=True)
    want = flat.search(queries, 10, metric)
    assert hit_ids(got) == hit_ids(want)
    assert [v for hits in got for *_, v in hits] == pytest.approx([v for hits in want for *_, v in hits], abs=1e-5)
    assert recall(hit_ids(index.search(queries, 10, metric, nprobe=8)), hit_ids(want)) >= 0.95


def test_filters_deletes_updates_and_compaction_under_the_index(tmp_path: Path, data: np.ndarray,
                                                                 queries: np.ndarray):
    index = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    write(index, 0, data[:4000], tagged=True)
    write(index, 4000, data[4000:5000], tagged=True)  # assigned to the set trained by the first write
    assert all(isinstance(seg, IvfSegment) for seg in index.view().segments)
    best = hit_ids(index.search(queries[:5], 3, "dot", nprobe=32))
    gone = sorted({ids[0] for ids in best})
    index.delete(gone)
    moved = "d4500"  # an update: the same id, now near the first query
    write_one = [dumps(document_to_dict(Document(id=moved, text="moved"), embedding=False))]
    index.upsert([moved], queries[:1], write_one, [{"parity": 1}])
    for nprobe in (4, 32):
        found = hit_ids(index.search(queries, 10, "dot", nprobe=nprobe))
        assert not set(gone) & {i for ids in found for i in ids}
        assert found[0][0] == moved
        filtered = index.search(queries, 10, "dot", {"parity": 0}, nprobe=nprobe)
        assert all(int(seg.ids[row][1:]) % 2 == 0 for hits in filtered for seg, row, _ in hits)
        assert all(len(hits) == 10 for hits in filtered)
    before = hit_ids(index.search(queries, 10, "dot", exact=True))
    assert index.compact(full=True)
    assert len(index.log.manifest().segments) == 1
    after = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    assert after.count() == 5000 - len(gone)
    assert hit_ids(after.search(queries, 10, "dot", exact=True)) == before
    assert recall(hit_ids(after.search(queries, 10, "dot", nprobe=8)), before) >= 0.95


def test_drift_is_measured_and_a_large_compaction_retrains(tmp_path: Path, queries: np.ndarray):
    index = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    write(index, 0, clustered(3000, seed=3))
    first = index.log.manifest().ivf
    assert first is not None and drift_ratio(first) is None  # nothing written since training
    write(index, 3000, clustered(1500, seed=4))  # like the training data
    ratio = drift_ratio(index.log.manifest().ivf)
    assert ratio is not None and ratio < 1.5
    shifted = clustered(4000, seed=5, centres=16, shift=3.0)  # another distribution
    for start in range(0, 4000, 1000):
        write(index, 10_000 + start, shifted[start : start + 1000])
    index.compact(full=True)  # drift must be measured before the merge that acts on it
    manifest = index.log.manifest()
    assert manifest.ivf is not None
    if manifest.ivf["current"] == first["current"]:  # the merge ran before drift passed: the next one retrains
        assert drift_ratio(manifest.ivf) is not None and drift_ratio(manifest.ivf) > 1.5  # type: ignore[operator]
        write(index, 20_000, shifted[:10])
        index.compact(full=True)
        manifest = index.log.manifest()
    assert manifest.ivf is not None and manifest.ivf["current"] != first["current"]
    assert list(manifest.ivf["sets"]) == [manifest.ivf["current"]]  # the old set is no longer referenced
    assert first["current"] in manifest.retired  # and is collected like a retired segment
    fresh = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    exact = hit_ids(fresh.search(shifted[:20], 10, "dot", exact=True))
    assert recall(hit_ids(fresh.search(shifted[:20], 10, "dot", nprobe=8)), exact) >= 0.95


def test_concurrent_writers_under_the_index(tmp_path: Path, data: np.ndarray, queries: np.ndarray):
    write(ShardIndex(LocalStorage(tmp_path), **OPTIONS), 0, data[:3000])
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            index = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
            for batch in range(4):
                start = 3000 + number * 1000 + batch * 250
                write(index, start, data[start : start + 250])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    index = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    assert index.count() == 6000
    truth = np.argsort(-(queries @ data[:6000].T), axis=1, kind="stable")[:, :10]
    assert recall(hit_ids(index.search(queries, 10, "dot", nprobe=8)), [[f"d{i}" for i in r] for r in truth]) >= 0.95


def test_a_cold_shard_reads_only_the_probed_lists(built: Path, data: np.ndarray, queries: np.ndarray):
    storage = CountingStorage(LocalStorage(built))
    index = ShardIndex(storage, **OPTIONS)  # type: ignore[arg-type]
    seg_key = index.log.manifest().segments[0]
    size = (built / seg_key).stat().st_size
    report = SearchReport()
    found = index.search(queries[:1], 10, "dot", nprobe=2, report=report)
    assert len(found[0]) == 10
    # after the first read (the header: FIRST_READ, a fixed 1 MiB, most of this small file), only the
    # list table, the deletions, 2 lists, the re-ranked rows' blocks and the hits' documents
    assert report.bytes_read == storage.range_bytes - FIRST_READ
    seg = index.view().segments[0]
    assert isinstance(seg, IvfSegment)
    reads_before = storage.range_reads
    documents = seg.docs_json([row for _, row, _ in found[0]])
    assert storage.range_reads - reads_before == 10  # one read a hit: the re-rank read their bounds
    assert [orjson.loads(doc)["id"] for doc in documents] == [f"d{i}" for i in
                                                              np.argsort(-(data @ queries[0]), kind="stable")[:10]]
    assert storage.range_bytes - FIRST_READ - report.bytes_read < 2000
    assert report.bytes_read < 0.06 * size
    assert "parts" not in seg._lazy and "ids_list" not in seg._lazy
    read_before = storage.range_bytes
    index.search(queries[:1], 10, "dot", nprobe=2)
    assert storage.range_bytes == read_before  # the same lists and rows again: from the cache


def test_the_cache_stays_within_its_budget(built: Path, queries: np.ndarray):
    budget = 60_000
    index = ShardIndex(CountingStorage(LocalStorage(built)), cache_bytes=budget, **OPTIONS)  # type: ignore[arg-type]
    for query in queries:
        index.search(query[None, :], 10, "dot", nprobe=8)
        assert index.list_cache.used <= budget
    assert index.list_cache.used > 0


def test_a_damaged_list_or_centroid_set_names_the_shard_and_segment(tmp_path: Path, data: np.ndarray,
                                                                  queries: np.ndarray,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(segment_file, "FIRST_READ", 4096)  # object storage reads this segment by ranges
    write(ShardIndex(LocalStorage(tmp_path), **OPTIONS), 0, data[:4000])
    index = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    seg_key = index.log.manifest().segments[0]
    seg = index.view().segments[0]
    assert isinstance(seg, IvfSegment)
    probed = ivf.probe(queries[:1], index.centroid_set(seg.centroids_key), "dot", 1)[0, 0]
    codes_at = seg.header["sections"]["codes"][0] + int(seg.code_starts[probed])
    first, _ = seg.list_span(probed)
    floats_at = seg.header["sections"]["embeddings"][0] + first * seg.dim * 4
    path = tmp_path / seg_key
    raw = bytearray(path.read_bytes())
    # a memory-mapped segment is scanned on its float32 rows, one read by ranges on its codes
    for offset, storage, named in ((floats_at, LocalStorage(tmp_path), f"rows {first // 32 * 32} to"),
                                   (codes_at, CountingStorage(LocalStorage(tmp_path)), f"list {probed}")):
        raw[offset + 3] ^= 0xFF
        path.write_bytes(bytes(raw))
        with pytest.raises(SegmentFormatError) as caught:
            ShardIndex(storage, **OPTIONS).search(queries[:1], 10, "dot", nprobe=1)  # type: ignore[arg-type]
        assert seg_key in str(caught.value) and str(tmp_path) in str(caught.value)
        assert named in str(caught.value)
        raw[offset + 3] ^= 0xFF  # repaired
        path.write_bytes(bytes(raw))
    # now damage the centroid set
    set_path = tmp_path / seg.centroids_key
    centroid_bytes = bytearray(set_path.read_bytes())
    centroid_bytes[-5] ^= 0x01
    set_path.write_bytes(bytes(centroid_bytes))
    with pytest.raises(SegmentFormatError, match="centroid set .* fails its CRC-32"):
        ShardIndex(LocalStorage(tmp_path), **OPTIONS).search(queries[:1], 10, "dot")
    # the rows are intact: an exact search still answers, and fsck names the set
    assert len(ShardIndex(LocalStorage(tmp_path), **OPTIONS).search(queries[:1], 10, "dot", exact=True)[0]) == 10
    shard = check(LocalStorage(tmp_path), "")
    assert not shard.clean and list(shard.centroid_problems) == [seg.centroids_key]
    assert "checksum mismatch" in shard.centroid_problems[seg.centroids_key]
    assert cli_main(["fsck", str(tmp_path)]) == 1
    assert f"{seg.centroids_key}: centroid set checksum mismatch" in capsys.readouterr().out
    assert zlib.crc32(bytes(centroid_bytes)) != index.log.manifest().ivf["sets"][seg.centroids_key]["crc32"]  # type: ignore[index]


def test_unindexed_segments_mix_with_indexed_ones(tmp_path: Path, data: np.ndarray, queries: np.ndarray):
    index = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    write(index, 0, data[:500])  # under ivf_min_rows: a format 1 segment, scored exactly
    write(index, 500, data[500:6000])  # trains
    kinds = [isinstance(seg, IvfSegment) for seg in ShardIndex(LocalStorage(tmp_path)).view().segments]
    assert kinds == [False, True]
    truth = np.argsort(-(queries @ data[:6000].T), axis=1, kind="stable")[:, :10]
    want = [[f"d{i}" for i in row] for row in truth]
    assert recall(hit_ids(ShardIndex(LocalStorage(tmp_path), **OPTIONS).search(queries, 10, "dot")), want) >= 0.95


def test_nprobe_outside_the_lists_is_refused(built: Path, queries: np.ndarray):
    index = ShardIndex(LocalStorage(built), **OPTIONS)
    for nprobe in (0, -1, 33):
        with pytest.raises(NprobeOutOfRange, match="1 to the shard's 32 lists"):
            index.search(queries, 10, "dot", nprobe=nprobe)
    assert len(index.search(queries, 10, "dot", nprobe=32)[0]) == 10


def test_training_is_numpy_kmeans_with_codes_close_to_the_vectors(data: np.ndarray):
    trained = ivf.train(data[:4000], 32)
    assert trained.nlist == 32 and trained.mse > 0
    again = ivf.CentroidSet.decode(trained.encode())
    assert np.array_equal(again.centroids, trained.centroids) and again.mse == trained.mse
    codes = trained.codes(data[:100])
    decoded = trained.low + (codes.astype(np.float32) + 128) * trained.step
    assert np.abs(decoded - data[:100]).max() <= trained.step.max()
    lists, dists = trained.assign(data[:100])
    direct = ((data[:100, None, :] - trained.centroids[None]) ** 2).sum(-1)
    assert np.array_equal(lists, direct.argmin(1)) and np.allclose(dists, direct.min(1), atol=1e-4)


def test_unit_rows_get_unit_centroids_and_even_lists():
    rng = np.random.default_rng(3)
    means = rng.standard_normal((400, DIM)).astype(np.float32)
    rows = means[rng.integers(0, 400, 20_000)] + rng.standard_normal((20_000, DIM)).astype(np.float32) * (
        rng.uniform(0.1, 1.5, 20_000)[:, None].astype(np.float32))  # clusters of very different spreads
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    spherical, plain = ivf.train(unit, 64), ivf.train(rows, 64)
    assert np.allclose(np.linalg.norm(spherical.centroids, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(np.linalg.norm(plain.centroids, axis=1), 1.0, atol=1e-2)

    def probed_rows(trained: ivf.CentroidSet) -> float:  # rows a query from the data scans at nprobe 4
        sizes = np.bincount(trained.assign(unit)[0], minlength=64)
        return float(sizes[ivf.probe(unit[:500], trained, "dot", 4)].sum(axis=1).mean())

    assert probed_rows(spherical) < 1.5 * 4 * len(unit) / 64  # close to the mean list size


def retrain_away(index: ShardIndex, current: str, shifted: np.ndarray) -> None:
    """Write rows of another distribution, then merge until a retrain replaces set ``current``
    and no segment is left on it (its record leaves the manifest)."""
    for start in range(0, len(shifted), 1000):
        write(index, 10_000 + start, shifted[start : start + 1000])
    for _ in range(2):
        if index.log.manifest().ivf["current"] == current:  # type: ignore[index]
            index.compact(full=True)
    assert index.log.manifest().ivf["current"] != current  # type: ignore[index]


def test_a_write_assigned_to_a_set_retrained_away_meanwhile_is_assigned_again(tmp_path: Path,
                                                                              queries: np.ndarray):
    """Writer A reads the manifest (set X current) and writes its segment assigned to X; before it
    publishes, writer B retrains and merges away every segment of X, so X leaves the manifest.
    A's segment must not be published under a set the manifest no longer lists."""
    other = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    write(other, 0, clustered(3000, seed=3))
    first = other.log.manifest().ivf
    assert first is not None
    shifted = clustered(4000, seed=5, centres=16, shift=3.0)
    late = clustered(500, seed=6)

    def retrain_meanwhile(key: str) -> None:
        SegmentLog.after_write = None  # once, for A's segment
        retrain_away(other, first["current"], shifted)

    SegmentLog.after_write = retrain_meanwhile
    try:
        writer = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
        write(writer, 20_000, late)
    finally:
        SegmentLog.after_write = None
    manifest = writer.log.manifest()
    assert manifest.ivf is not None
    used = {info.centroids for info in manifest.files.values() if info.centroids is not None}
    assert used <= set(manifest.ivf["sets"])  # every set a listed segment uses is recorded
    assert first["current"] not in used
    assert check(LocalStorage(tmp_path), "").clean
    fresh = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    assert fresh.count() == 3000 + 4000 + 500
    found = hit_ids(fresh.search(late[:20], 1, "dot", nprobe=8))
    assert [hits[0] for hits in found] == [f"d{20_000 + i}" for i in range(20)]


def test_fsck_names_a_set_a_segment_uses_without_a_record(tmp_path: Path, data: np.ndarray, queries: np.ndarray):
    index = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    write(index, 0, data[:3000])
    set_key = index.log.manifest().ivf["current"]  # type: ignore[index]
    # what the race above produced before writes checked for it: the set's record gone, a segment still on it
    index.log.swap(lambda segments: segments, ivf=lambda ivf: {"current": None, "sets": {}, "drift": ivf["drift"]})
    shard = check(LocalStorage(tmp_path), "")
    assert not shard.clean and list(shard.centroid_problems) == [set_key]
    assert f"segment {index.log.manifest().segments[0]} is assigned to this centroid set" in \
        shard.centroid_problems[set_key]
    write(index, 3000, data[3000:3500])
    assert index.compact(full=True)  # reassigns every row to a set the manifest records
    assert check(LocalStorage(tmp_path), "").clean
    after = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    assert after.count() == 3500
    truth = np.argsort(-(queries @ data[:3500].T), axis=1, kind="stable")[:, :10]
    assert recall(hit_ids(after.search(queries, 10, "dot", nprobe=8)), [[f"d{i}" for i in r] for r in truth]) >= 0.95


class ManifestReads(CountingStorage):
    """Counts the manifest's reads."""

    def __init__(self, inner: LocalStorage):
        super().__init__(inner)
        self.manifest_reads = 0

    def get_versioned(self, key: str) -> Any:
        self.manifest_reads += key.endswith("manifest.json")
        return self.inner.get_versioned(key)


def test_a_warm_writer_reads_the_manifest_once_a_write(tmp_path: Path, data: np.ndarray):
    storage = ManifestReads(LocalStorage(tmp_path))
    index = ShardIndex(storage, **OPTIONS)  # type: ignore[arg-type]
    write(index, 0, data[:3000])  # trains
    before = storage.manifest_reads
    write(index, 3000, data[3000:3100])
    assert storage.manifest_reads - before == 1  # the swap's own read: the rows are assigned by the set seen


def test_a_warm_writer_whose_set_was_retrained_away_assigns_again(tmp_path: Path, queries: np.ndarray):
    writer = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    write(writer, 0, clustered(3000, seed=3))
    first = writer.log.manifest().ivf["current"]  # type: ignore[index]
    other = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    retrain_away(other, first, clustered(4000, seed=5, centres=16, shift=3.0))
    late = clustered(500, seed=6)
    write(writer, 20_000, late)  # its set, as last seen, is gone: assigned again to the current one
    manifest = writer.log.manifest()
    used = {info.centroids for info in manifest.files.values() if info.centroids is not None}
    assert first not in used and used <= set(manifest.ivf["sets"])  # type: ignore[index]
    assert check(LocalStorage(tmp_path), "").clean
    fresh = ShardIndex(LocalStorage(tmp_path), **OPTIONS)
    assert fresh.count() == 7500
    assert [hits[0] for hits in hit_ids(fresh.search(late[:20], 1, "dot", nprobe=8))] == [
        f"d{20_000 + i}" for i in range(20)]


@pytest.mark.parametrize("metric", ["dot", "cosine", "euclidean"])
def test_a_single_query_finds_the_exact_best_of_the_lists_it_probes(tmp_path: Path, data: np.ndarray,
                                                                    queries: np.ndarray, metric: str):
    # rows of unequal norms, so that the metrics order them differently
    scaled = data * np.random.default_rng(5).uniform(0.5, 2.0, (len(data), 1)).astype(np.float32)
    index = ShardIndex(LocalStorage(tmp_path / "indexed"), **OPTIONS)
    write(index, 0, scaled)
    view = index.view()
    (seg,) = view.segments
    assert isinstance(seg, IvfSegment) and seg.source.in_memory  # the memory-mapped scan
    centroids = index.centroid_set(seg.centroids_key, view.ivf)
    for number, query in enumerate(queries[:8]):
        probed = ivf.probe(query[None], centroids, metric, 4)[0]
        rows = np.concatenate([np.arange(*seg.list_span(int(n))) for n in probed])
        # the definition: an exact search of those rows alone
        flat = ShardIndex(LocalStorage(tmp_path / f"flat-{metric}-{number}"), ivf_min_rows=10**9)
        ids = [seg.ids[row] for row in rows.tolist()]
        flat.upsert(ids, scaled[[int(doc_id[1:]) for doc_id in ids]], [b"{}"] * len(ids))
        (want,) = flat.search(query[None], 10, metric)
        (got,) = index.search(query[None], 10, metric, nprobe=4)
        assert [s.ids[row] for s, row, _ in got] == [s.ids[row] for s, row, _ in want]
        assert [value for *_, value in got] == pytest.approx([value for *_, value in want], rel=1e-5, abs=1e-5)
