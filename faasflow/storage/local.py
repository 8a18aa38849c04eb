"""Local-folder storage: one file per key, written atomically (temp file + rename) and
durably: the file is fsynced before it is renamed into place and its folder after, so a
power cut leaves the old object or the whole new one, never a published but empty file.

``FAASFLOW_FSYNC=0`` turns the fsyncs off; it is for benchmarks (to measure what they
cost) and tests only, never for data anyone wants back after a crash.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faasflow.storage.base import StorageError, VersionConflict

FSYNC_ENV = "FAASFLOW_FSYNC"


def fsync_enabled() -> bool:
    """Whether writes are fsynced (the default); read at each write, so a benchmark can
    measure both ways in one process."""
    return os.environ.get(FSYNC_ENV, "1").strip() != "0"


def _fsync_dir(folder: Path) -> None:
    """Make a rename, link or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(folder: Path, sync: bool) -> None:
    """Create ``folder`` (and missing parents); with ``sync``, fsync each new folder's
    parent so the new entries survive a crash too."""
    if folder.is_dir():
        return
    missing = [folder, *(p for p in folder.parents if not p.is_dir())]
    folder.mkdir(parents=True, exist_ok=True)
    if sync:
        for created in missing:
            _fsync_dir(created.parent)


# A conditional replace is check-then-rename: a lock file beside the object (flock, across
# processes) plus a lock per process and lock file (flock is per open file, not per thread)
# make the two steps one. Objects in different folders (two shards' manifests) never wait
# for each other, and every root that reaches a file locks the same lock file.
_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_REGISTRY = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _REGISTRY:
        return _THREAD_LOCKS.setdefault(path, threading.Lock())


def _version(data: bytes) -> str:
    """A content hash: md5 for small objects (manifests, which conditional writes compare);
    length plus CRC-32 for large ones (index segments, written once and never compared),
    several times faster to compute: a segment write is its bytes' copy, its checksum and
    this (an Adler-32 beside it cost IVF ingest 5%)."""
    if len(data) <= 1 << 16:
        return hashlib.md5(data).hexdigest()
    return f"{len(data):x}-{zlib.crc32(data):08x}"


class LocalStorage:
    """Objects as files under a root folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    @property
    def url(self) -> str:
        return self.root.as_uri() + "/"

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
            raise StorageError(f"invalid storage key {key!r}: use relative 'a/b/c' keys")
        return self.root / key

    def get(self, key: str) -> bytes | None:
        try:
            with open(self._path(key), "rb", buffering=0) as handle:  # unbuffered: one read, no buffer
                return handle.read()
        except FileNotFoundError:
            return None

    def file_path(self, key: str) -> Path:
        """The file holding ``key``: immutable objects (index segments) are memory-mapped
        from it rather than read into memory."""
        return self._path(key)

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        if start < 0 or length < 0:
            raise StorageError(f"invalid range of {self.url}{key}: start {start}, length {length}")
        try:
            with open(self._path(key), "rb") as handle:
                handle.seek(start)
                return handle.read(length)
        except FileNotFoundError:
            return None

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        data = self.get(key)
        return None if data is None else (data, _version(data))

    def _write_temp(self, path: Path, data: bytes, sync: bool) -> str:
        _make_dirs(path.parent, sync)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())  # the bytes are on disk before any name points at them
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return tmp

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        sync = fsync_enabled()
        tmp = self._write_temp(path, data, sync)
        try:
            os.replace(tmp, path)  # readers see the old object or the new one, never half of it
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if sync:
            _fsync_dir(path.parent)  # the rename itself survives a crash
        return _version(data)

    def put_if_absent(self, key: str, data: bytes) -> str:
        path = self._path(key)
        sync = fsync_enabled()
        tmp = self._write_temp(path, data, sync)
        try:
            os.link(tmp, path)  # atomic: fails if the key exists, in any process
        except FileExistsError:
            raise VersionConflict(f"{self.url}{key} already exists") from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        if sync:
            _fsync_dir(path.parent)
        return _version(data)

    def put_if_version(self, key: str, data: bytes, version: str) -> str:
        with self._locked(self._path(key)):
            current = self.get_versioned(key)
            if current is None or current[1] != version:
                raise VersionConflict(f"{self.url}{key} changed since version {version}")
            return self.put(key, data)

    @contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.parent / ".lock"
        with _thread_lock(lock_path), open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def list(self, prefix: str = "") -> list[str]:
        # walk only the folder the prefix names (listing is on every query's path)
        folder = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        keys = []
        for dirpath, _, filenames in os.walk(folder):
            base = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if not name.startswith("."):
                    key = name if base == "." else f"{base}/{name}"
                    if key.startswith(prefix):
                        keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def child(self, prefix: str) -> LocalStorage:
        return LocalStorage(self.root / prefix.strip("/"))

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"
