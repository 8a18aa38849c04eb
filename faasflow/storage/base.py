"""The storage interface every backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class StorageError(Exception):
    """A storage operation failed; the message names the key and the backend."""


class VersionConflict(StorageError):
    """A conditional write lost: the object was created or changed by another writer."""


@runtime_checkable
class Storage(Protocol):
    """Objects under string keys (``'segments/0001.json'``); values are bytes.

    Versions are opaque strings (an ETag on S3, a content hash locally) used by the
    conditional writes that let concurrent writers update a manifest safely.
    """

    @property
    def url(self) -> str:
        """Where this storage lives (``file:///...`` or ``s3://bucket/prefix/``)."""
        ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and version, or None when there is no such object."""
        ...

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        """Up to ``length`` bytes of the object from offset ``start`` (fewer at its end, none
        past it), or None when there is no such object. Large immutable objects (index
        segments) are read this way, in parallel parts."""
        ...

    def put(self, key: str, data: bytes) -> str:
        """Write (create or replace) an object; returns its new version."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> str:
        """Create an object only if it does not exist; raises VersionConflict otherwise."""
        ...

    def put_if_version(self, key: str, data: bytes, version: str) -> str:
        """Replace an object only if its version is still ``version``; raises VersionConflict."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix``, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object (no error when it does not exist)."""
        ...

    def child(self, prefix: str) -> Storage:
        """The same backend, scoped under ``prefix``."""
        ...
