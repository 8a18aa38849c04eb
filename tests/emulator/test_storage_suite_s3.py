"""The shared storage suite (tests/storage/storage_suite.py) on the S3 backend, against the
session's MiniStack emulator: conditional writes are S3's own If-None-Match / If-Match."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from faasflow.storage.s3 import S3Storage
from faasflow.testing import MiniStack
from tests.support.storage_suite import *  # noqa: F403
from tests.support.storage_suite import Backend

pytestmark = pytest.mark.emulator


@pytest.fixture
def backend(ministack: MiniStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    for name, value in ministack.environ().items():
        monkeypatch.setenv(name, value)
    bucket = f"suite-{uuid.uuid4().hex[:16]}"
    ministack.client("s3").create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/shard/"
    yield Backend(S3Storage(bucket, "shard"), url, env=ministack.environ(), reopen=lambda: S3Storage(bucket, "shard"))
