"""Durable executor state: one small key-value interface, a local-folder backend and an
S3 backend with the same semantics (conditional writes included).

Embedded, an executor's storage is a folder in its workspace; on AWS it is an S3 prefix
per executor and shard, so state survives cold starts and is shared by every container.
"""

from faasflow.storage.base import Storage, StorageError, VersionConflict
from faasflow.storage.factory import open_storage

__all__ = ["Storage", "StorageError", "VersionConflict", "open_storage"]
