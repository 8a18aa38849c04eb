"""An IVF-indexed shard in S3 (the emulator's): a fresh reader answers from the manifest, the
centroids and the lists it probes (ranged GETs), the same hits as the same shard on local
disk; its list cache serves the next query; a damaged list is named, never answered from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faasflow import Document
from faasflow.codec import document_to_dict, dumps
from faasflow.index import segment as segment_file
from faasflow.index.approximate import SearchReport
from faasflow.index.lists import IvfSegment
from faasflow.index.segment import SegmentFormatError
from faasflow.index.shard import ShardIndex
from faasflow.storage.local import LocalStorage
from faasflow.testing import MiniStack

pytestmark = pytest.mark.emulator

DIM = 64
OPTIONS = {"ivf_min_rows": 5000, "nlist": 64, "nprobe": 4}


def clustered(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(5).standard_normal((100, DIM)).astype(np.float32)
    data = means[rng.integers(0, 100, rows)] + 0.4 * rng.standard_normal((rows, DIM)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def write(index: ShardIndex, matrix: np.ndarray) -> None:
    ids = [f"d{i}" for i in range(len(matrix))]
    index.upsert(ids, matrix, [dumps(document_to_dict(Document(id=i), embedding=False)) for i in ids])


def hits(index: ShardIndex, queries: np.ndarray, report: SearchReport | None = None) -> list[list[str]]:
    return [[seg.ids[row] for seg, row, _ in found]
            for found in index.search(queries, 10, "dot", report=report)]


def test_a_cold_s3_shard_reads_only_what_it_probes(fresh_ministack: MiniStack, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path):
    from faasflow.storage.s3 import S3Storage

    for name, value in fresh_ministack.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(segment_file, "FIRST_READ", 64 << 10)  # a small shard still read by ranges
    fresh_ministack.client("s3").create_bucket(Bucket="ivf")
    data, queries = clustered(20_000, seed=1), clustered(8, seed=2)
    write(ShardIndex(S3Storage("ivf", "state/idx/0"), **OPTIONS), data)  # type: ignore[arg-type]
    write(ShardIndex(LocalStorage(tmp_path), **OPTIONS), data)  # type: ignore[arg-type]

    cold = ShardIndex(S3Storage("ivf", "state/idx/0"), **OPTIONS)  # type: ignore[arg-type]
    manifest = cold.log.manifest()
    shard_bytes = sum(info.size for info in manifest.files.values())
    first = SearchReport()
    answer = hits(cold, queries[:1], first)
    assert not first.exact and first.lists_probed == 4
    assert 0 < first.bytes_read < 0.1 * shard_bytes  # 4 of 64 lists' codes and the re-ranked rows' blocks
    assert isinstance(cold.view().segments[0], IvfSegment)
    assert "embeddings" not in cold.view().segments[0]._lazy  # the float32 matrix was never read whole
    local = ShardIndex(LocalStorage(tmp_path), **OPTIONS)  # type: ignore[arg-type]
    # same training, same lists: the same hits as the memory-mapped copy (which scores
    # its lists on float32; the codes' estimate only chooses what S3's copy re-ranks)
    exact = np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :10]
    remote_all, local_all = hits(cold, queries), hits(local, queries)
    recall = np.mean([len(set(r) & {f"d{i}" for i in e}) / 10 for r, e in zip(remote_all, exact)])
    assert recall >= 0.9 and answer[0] == remote_all[0]
    assert np.mean([len(set(r) & set(loc)) / 10 for r, loc in zip(remote_all, local_all)]) >= 0.95
    again = SearchReport()
    hits(cold, queries[:1], again)
    assert again.bytes_read == 0  # its lists and rows are in the shard's cache now

    seg = cold.view().segments[0]
    assert isinstance(seg, IvfSegment)
    probed = int(np.flatnonzero(np.diff(seg.row_starts))[0])
    at = seg.header["sections"]["codes"][0] + int(seg.code_starts[probed]) + 5
    storage = cold.log.storage
    raw = bytearray(storage.get(seg.key) or b"")
    raw[at] ^= 0x7F
    storage.put(seg.key, bytes(raw))  # the same key, other bytes: a list gone bad in place
    fresh = ShardIndex(S3Storage("ivf", "state/idx/0"), **{**OPTIONS, "nprobe": 64})  # type: ignore[arg-type]
    with pytest.raises(SegmentFormatError) as caught:
        fresh.search(queries[:1], 10, "dot")
    assert f"list {probed} fails its CRC-32" in str(caught.value) and seg.key in str(caught.value)
