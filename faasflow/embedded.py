"""``EmbeddedBackend``: the gateway's Backend over a Flow's in-process engine.

It lives beside the Flow, not in ``faasflow.serve``: the gateway knows only the Backend
protocol, so it never imports the Flow, and the Flow hands it this backend to serve.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from faasflow.array import DocumentArray
from faasflow.engine import LocalEngine, StageObserver
from faasflow.parameters import ParameterSchemas, parameter_schemas
from faasflow.plan import Plan
from faasflow.request import Response
from faasflow.topology import describe

if TYPE_CHECKING:
    from faasflow.executors.drift import DriftReading


class RunningFlow(Protocol):
    """What the backend needs of a Flow (``faasflow.Flow`` is one): typed here, so this
    module never imports the Flow that makes it."""

    _engine: LocalEngine | None

    @property
    def plan(self) -> Plan: ...

    @property
    def is_started(self) -> bool: ...

    def process(self, on: str, docs: DocumentArray, parameters: dict[str, Any], request_id: str | None = None, *,
                copy_inputs: bool = True, target_executor: str | None = None) -> Response: ...


class EmbeddedBackend:
    """Runs requests on a Flow's in-process engine (``faasflow.serve.Backend``)."""

    kind = "embedded"

    def __init__(self, flow: RunningFlow):
        self.flow = flow
        self.plan = flow.plan
        self._served = self.plan.served_endpoints

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def served_endpoints(self) -> list[str]:
        return list(self._served)

    def serves(self, endpoint: str) -> bool:
        return endpoint.startswith("/") and self.plan.serves(endpoint)

    def parameter_schemas(self) -> ParameterSchemas:
        """The endpoints' declared parameter models, for the OpenAPI schema."""
        return parameter_schemas(self.plan)

    def process(self, endpoint: str, docs: DocumentArray, parameters: dict[str, Any], request_id: str,
                target_executor: str | None = None) -> Response:
        # Docs decoded from a request body belong to nobody else: no defensive copy.
        return self.flow.process(endpoint, docs, parameters, request_id, copy_inputs=False,
                                 target_executor=target_executor)

    def status(self, runtime: bool = False) -> dict[str, Any]:
        from faasflow import __version__

        described = describe(self.plan)
        engine = self.flow._engine
        if engine is not None:  # in-process instances report themselves (executor.status()) at no cost: always
            for executor in described["executors"]:
                reports = [instance.status() for instance in engine.instances.get(executor["name"], [])]
                if any(reports):
                    executor["runtime"] = reports
        return {**described, "version": __version__, "backend": self.kind, "ready": self.flow.is_started}

    def observe_executors(self, observer: StageObserver) -> None:
        engine = self.flow._engine
        if engine is not None:
            engine.add_observer(observer)
            engine.one_request_per_executor()
        watch: Callable[[Callable[[], Iterable[DriftReading]]], None] | None = getattr(observer, "watch_drift", None)
        if watch is not None:  # the gateway's metrics: drift gauges read from the instances when scraped
            watch(self.drift_readings)
        watch_search: Callable[[Callable[[], Iterable[Any]]], None] | None = getattr(observer, "watch_search", None)
        if watch_search is not None:
            watch_search(self.search_totals)

    def drift_readings(self) -> list[DriftReading]:
        """Each in-process shard's embedding drift (executors with a ``drift`` monitor, as
        ``VectorIndexer``), as of now; none while the Flow is not running."""
        engine = self.flow._engine
        if engine is None:
            return []
        from faasflow.executors.drift import DriftMonitor

        monitors = (getattr(instance, "drift", None) for instances in list(engine.instances.values())
                    for instance in list(instances))
        return [monitor.reading() for monitor in monitors if isinstance(monitor, DriftMonitor)]

    def search_totals(self) -> list[Any]:
        """Each in-process vector shard's search totals (``SearchMetrics``); none while the
        Flow is not running."""
        engine = self.flow._engine
        if engine is None:
            return []
        module = sys.modules.get("faasflow.executors.vector_indexer")
        if module is None:  # not imported: no shard of it runs here
            return []
        found = (getattr(instance, "search_metrics", None) for instances in list(engine.instances.values())
                 for instance in list(instances))
        return [metrics for metrics in found if isinstance(metrics, module.SearchMetrics)]
