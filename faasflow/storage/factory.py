"""Opening a storage from a URL: ``s3://bucket/prefix/``, ``file:///path`` or a plain path."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from faasflow.storage.base import Storage


def open_storage(url: str) -> Storage:
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from faasflow.storage.s3 import S3Storage

        if not parsed.netloc:
            raise ValueError(f"storage URL {url!r} names no bucket")
        return S3Storage(parsed.netloc, parsed.path.lstrip("/"))
    from faasflow.storage.local import LocalStorage

    if parsed.scheme == "file":
        return LocalStorage(unquote(parsed.path))
    if parsed.scheme in ("",):
        return LocalStorage(url)
    raise ValueError(f"unsupported storage URL {url!r}: use s3://bucket/prefix/ or a local path")
