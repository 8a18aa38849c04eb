"""``faasflow fsck`` on a shard in S3 (the emulator's): a damaged segment is found by its
recorded size, quarantined by ``--repair``, and its lost ids named; the shard answers again."""

from __future__ import annotations

import numpy as np
import pytest

from faasflow import Document
from faasflow.cli import main
from faasflow.codec import document_to_dict, dumps
from faasflow.index.shard import ShardIndex
from faasflow.storage.segments import SEGMENTS
from faasflow.testing import MiniStack

pytestmark = pytest.mark.emulator


def upsert(index: ShardIndex, ids: list[str]) -> None:
    docs = [dumps(document_to_dict(Document(id=i, text=i), embedding=False)) for i in ids]
    index.upsert(ids, np.stack([np.full(4, float(n + 1), np.float32) for n, _ in enumerate(ids)]), docs)


def fsck(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(["fsck", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_fsck_repairs_a_shard_in_s3(fresh_ministack: MiniStack, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]):
    from faasflow.storage.s3 import S3Storage

    for name, value in fresh_ministack.environ().items():
        monkeypatch.setenv(name, value)
    fresh_ministack.client("s3").create_bucket(Bucket="fsck")
    index = ShardIndex(S3Storage("fsck", "state/idx/0"))
    upsert(index, ["a", "b"])
    upsert(index, ["c", "d"])
    damaged = index.log.manifest().segments[-1]
    data = index.log.storage.get(damaged) or b""
    index.log.storage.put(damaged, data[:-64])  # its tail lost: its ids still read

    code, out, _ = fsck(capsys, "s3://fsck/state/")
    assert code == 1 and out[0].startswith(f"idx/0: {damaged}: size ")
    code, out, _ = fsck(capsys, "s3://fsck/state/", "--repair")
    assert code == 0 and f"idx/0: {damaged}: 2 doc(s) lost: c, d" in out
    fresh = ShardIndex(S3Storage("fsck", "state/idx/0"))
    assert fresh.count() == 2
    assert index.log.storage.get(f"quarantine/{damaged[len(SEGMENTS):]}") == data[:-64]
