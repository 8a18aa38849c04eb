"""The one Lambda handler behind every executor function.

At init (once per container) it imports the executor class named by the function's
environment and constructs it with its ``uses_with``, its shard and its durable storage
(an S3 prefix per executor and shard); each invocation runs one hop (``hops.run_shard``),
or answers ``hops.STATUS_REQUEST`` with what the instance reports of itself.

Environment (written by ``faasflow build``): ``FAASFLOW_EXECUTOR``, ``FAASFLOW_USES``,
``FAASFLOW_USES_WITH`` (JSON), ``FAASFLOW_SHARD``, ``FAASFLOW_SHARDS``, ``FAASFLOW_NEEDS``
(JSON), ``FAASFLOW_STORAGE_URL``, ``FAASFLOW_BUCKET``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

from faasflow import codec
from faasflow.executor import Executor, with_requests
from faasflow.loader import resolve_uses
from faasflow.plan import ExecutorSpec
from faasflow.runtime.hops import run_shard
from faasflow.runtime.observe import HopObserver
from faasflow.stage import construct_executor
from faasflow.wire import DEFAULT_INLINE_LIMIT, Envelope, StageEvent, is_status_request


@dataclass
class ShardRuntime:
    spec: ExecutorSpec
    shard: int
    instance: Executor
    observer: HopObserver = field(init=False)

    def __post_init__(self) -> None:
        self.observer = HopObserver(self.spec.name, self.shard)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> ShardRuntime:
        name = env["FAASFLOW_EXECUTOR"]
        shard, shards = int(env.get("FAASFLOW_SHARD", "0")), int(env.get("FAASFLOW_SHARDS", "1"))
        executor_cls = resolve_uses(env["FAASFLOW_USES"], name)
        uses_with = codec.loads(env.get("FAASFLOW_USES_WITH") or "{}")
        uses_requests = codec.loads(env.get("FAASFLOW_USES_REQUESTS") or "{}")  # Jina's endpoint remap
        if uses_requests:
            executor_cls = with_requests(executor_cls, uses_requests)
        spec = ExecutorSpec(
            name=name,
            uses=env["FAASFLOW_USES"],
            cls=executor_cls,
            uses_with=MappingProxyType(uses_with),
            shards=shards,
            needs=tuple(codec.loads(env.get("FAASFLOW_NEEDS") or '["gateway"]')),
            disable_reduce=env.get("FAASFLOW_DISABLE_REDUCE") == "1",
            uses_requests=MappingProxyType(uses_requests),
            docs_map_keys=tuple(codec.loads(env.get("FAASFLOW_DOCS_MAP_KEYS") or "[]")),
        )
        instance = construct_executor(spec, shard, workspace=env.get("FAASFLOW_WORKSPACE", "/tmp/faasflow-workspace"),
                                      storage_url=env.get("FAASFLOW_STORAGE_URL"))
        return cls(spec, shard, instance)

    def status(self) -> dict[str, Any]:
        """What this container's instance reports of itself (``Executor.status()``)."""
        return {"shard": self.shard, **self.instance.status()}

    def handle(self, event: Mapping[str, Any]) -> Envelope | dict[str, Any]:
        if is_status_request(event):  # the gateway's GET /status?runtime=true
            return cast(dict[str, Any], codec.to_plain(self.status()))
        started = time.perf_counter()
        stage_event = cast(StageEvent, event)
        envelope = run_shard(
            self.instance,
            self.spec,
            self.shard,
            stage_event.get("mode", "single"),
            stage_event,
            int(stage_event.get("inline_limit") or DEFAULT_INLINE_LIMIT),
        )
        self.observer.hop(stage_event.get("request") or {}, envelope, time.perf_counter() - started)
        return envelope


_runtime: ShardRuntime | None = None


def runtime() -> ShardRuntime:
    global _runtime
    if _runtime is None:
        _runtime = ShardRuntime.from_environment()
    return _runtime


def handle(event: Mapping[str, Any], context: Any = None) -> Envelope | dict[str, Any]:
    """The Lambda entry point: ``faasflow.runtime.handler.handle``."""
    return runtime().handle(event)


if os.environ.get("FAASFLOW_EXECUTOR") and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    runtime()  # construct during the Lambda init phase, not on the first request
