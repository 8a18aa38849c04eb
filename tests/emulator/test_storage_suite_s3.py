"""The shared storage suite (tests/storage/storage_suite.py) on the S3 backend, against the
session's MiniStack emulator: conditional writes are S3's own If-None-Match / If-Match."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faasflow.storage.s3 import S3Storage
from faasflow.testing import MiniStack
from tests.support.storage_suite import *  # noqa: F403
from tests.support.storage_suite import Backend

pytestmark = pytest.mark.emulator
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def backend(ministack: MiniStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    for name, value in ministack.environ().items():
        monkeypatch.setenv(name, value)
    bucket = f"suite-{uuid.uuid4().hex[:16]}"
    ministack.client("s3").create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/shard/"
    yield Backend(S3Storage(bucket, "shard"), url, env=ministack.environ(), reopen=lambda: S3Storage(bucket, "shard"))


def test_a_cold_process_makes_one_client_and_no_boto3_import(ministack: MiniStack):
    """A shard's reads in a fresh process (as a Lambda container's first request): the index
    record and the shard share one botocore client, and boto3 (60-75 ms more) is not imported."""
    bucket = f"cold-{uuid.uuid4().hex[:16]}"
    ministack.client("s3").create_bucket(Bucket=bucket)
    code = f"""
import sys
import botocore.session
made = []
create = botocore.session.Session.create_client
botocore.session.Session.create_client = lambda self, *a, **k: made.append(a[0]) or create(self, *a, **k)
from faasflow.executors.vector_indexer import VectorIndexer
from faasflow import Document, DocumentArray
runtime = {{"name": "idx", "shard_id": 0, "shards": 1, "storage_url": "s3://{bucket}/state/"}}
indexer = VectorIndexer(metric="dot", runtime_args=runtime)
indexer.index(DocumentArray([Document(id=f"d{{i}}", embedding=[1.0, float(i)]) for i in range(3)]))
fresh = VectorIndexer(metric="dot", runtime_args=runtime)
docs = DocumentArray([Document(id="q", embedding=[1.0, 2.0])])
fresh.search(docs, {{"limit": 1}})
print(docs[0].matches[0].id, made, "boto3" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **ministack.environ()})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["d2", "['s3']", "False"]
