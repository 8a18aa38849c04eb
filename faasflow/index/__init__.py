"""Durable, sharded exact vector search on object storage.

A shard's data is immutable segment files (``segment``) listed by a manifest that writers
swap with conditional writes (``faasflow.storage.segments``); ``ShardIndex`` upserts,
deletes, compacts and searches them with a warm cache. ``faasflow.executors.VectorIndexer``
serves it as an executor.
"""

from faasflow.index.segment import Segment, SegmentFormatError, SegmentMissing
from faasflow.index.shard import ShardIndex, View
from faasflow.storage.segments import DimensionMismatch

__all__ = ["DimensionMismatch", "Segment", "SegmentFormatError", "SegmentMissing", "ShardIndex", "View"]
