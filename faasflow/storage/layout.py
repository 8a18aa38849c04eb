"""Where an executor's shards keep their state: the one place the layout is decided
(``Executor.storage`` of each shard, and what spans all of an executor's shards, such as
an index's dimension record, beside them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faasflow.storage.base import Storage
from faasflow.storage.factory import open_storage


def executor_storage(runtime: Any) -> Storage:
    """Where an executor's shards keep their state, all of them: the prefix ``name/`` of
    ``runtime.storage_url`` on AWS, the folder ``workspace/name`` embedded."""
    if runtime.storage_url:
        return open_storage(runtime.storage_url).child(runtime.name)
    return open_storage(str(Path(runtime.workspace) / runtime.name))


def shard_storage(runtime: Any, shard: int) -> Storage:
    """One shard's state (``Executor.storage``): ``name/shard`` on AWS, the folder
    ``workspace/name/shard/state`` embedded (the shard's workspace holds more than state)."""
    return executor_storage(runtime).child(str(shard) if runtime.storage_url else f"{shard}/state")
