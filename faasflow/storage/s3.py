"""S3 storage (AWS, LocalStack, or any S3-compatible endpoint) through botocore.

botocore is imported when the first client is made, not at import time: executor functions
that never touch state pay nothing for it at cold start (and boto3 is never imported here).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from faasflow.storage.base import StorageError, VersionConflict

_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_CLIENT_ENVIRON = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
                   "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_clients: dict[tuple[str | None, ...], Any] = {}
_clients_lock = threading.Lock()


def s3_client() -> Any:
    """The process's botocore S3 client for the configured endpoint (``AWS_ENDPOINT_URL`` or
    AWS) and credentials: made once (the first costs botocore's import and about 100 ms
    more, every later one 70-90 ms) and shared, as botocore clients are thread-safe. A
    storage, the index record beside the shards and an S3 event's reader then share one.
    A lean client: boto3 is not imported on this path."""
    from faasflow.aws import aws_client

    key = tuple(os.environ.get(name) for name in _CLIENT_ENVIRON)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:  # segments are read in parallel ranged parts: a pool as wide
            client = _clients[key] = aws_client("s3", lean=True, max_pool_connections=32)
    return client


class S3Storage:
    """Objects under ``s3://bucket/prefix/``."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, _shared: list[Any] | None = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        # the process's client (``s3_client``), looked up on first use by a storage or any
        # of its children
        self._shared = _shared if _shared is not None else [client]

    @property
    def client(self) -> Any:
        shared = self._shared
        if shared[0] is None:
            shared[0] = s3_client()
        return shared[0]

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        if not key or key.startswith("/"):
            raise StorageError(f"invalid storage key {key!r}: use relative 'a/b/c' keys")
        return self.prefix + key

    def get(self, key: str) -> bytes | None:
        found = self.get_versioned(key)
        return None if found is None else found[0]

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        except Exception as exc:  # noqa: BLE001
            if _code(exc) in ("404", "NoSuchKey"):
                return None
            raise StorageError(f"cannot read {self.url}{key}: {exc}") from exc
        return answer["Body"].read(), answer["ETag"]

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        if start < 0 or length < 0:
            raise StorageError(f"invalid range of {self.url}{key}: start {start}, length {length}")
        if length == 0:
            return b"" if self._exists(key) else None
        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{start + length - 1}"
            )
        except Exception as exc:  # noqa: BLE001
            code = _code(exc)
            if code in ("404", "NoSuchKey"):
                return None
            if code in ("416", "InvalidRange"):  # the object exists but ends before ``start``
                return b""
            raise StorageError(f"cannot read {self.url}{key}: {exc}") from exc
        return answer["Body"].read()

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:  # noqa: BLE001
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"cannot read {self.url}{key}: {exc}") from exc
        return True

    def _put(self, key: str, data: bytes, **conditions: str) -> str:
        try:
            answer = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **conditions)
        except Exception as exc:  # noqa: BLE001
            if _code(exc) in _CONFLICT_CODES:
                raise VersionConflict(f"conditional write of {self.url}{key} lost: {_code(exc)}") from exc
            raise StorageError(f"cannot write {self.url}{key}: {exc}") from exc
        return answer["ETag"]

    def put(self, key: str, data: bytes) -> str:
        return self._put(key, data)

    def put_if_absent(self, key: str, data: bytes) -> str:
        return self._put(key, data, IfNoneMatch="*")

    def put_if_version(self, key: str, data: bytes, version: str) -> str:
        try:
            return self._put(key, data, IfMatch=version)
        except StorageError as exc:
            # S3 answers If-Match on a missing object with 404: it changed (it is gone)
            if _code(exc.__cause__) in ("404", "NoSuchKey"):  # type: ignore[arg-type]
                raise VersionConflict(f"conditional write of {self.url}{key} lost: it no longer exists") from exc
            raise

    def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys.extend(item["Key"][len(self.prefix):] for item in page.get("Contents", ()))
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot list {self.url}{prefix}: {exc}") from exc
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot delete {self.url}{key}: {exc}") from exc

    def child(self, prefix: str) -> S3Storage:
        return S3Storage(self.bucket, self.prefix + prefix.strip("/"), _shared=self._shared)

    def __repr__(self) -> str:
        return f"S3Storage({self.url!r})"


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    return str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
