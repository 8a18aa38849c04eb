"""What the gateway runs requests on: a ``Backend``.

The FastAPI app knows only this protocol, so the same app serves the embedded engine here
and a Step Functions backend inside Lambda. ``EmbeddedBackend`` wraps a started Flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from faasflow.array import DocumentArray
from faasflow.engine import StageObserver as ExecutorObserver
from faasflow.request import Response
from faasflow.topology import describe

if TYPE_CHECKING:
    from faasflow.flow import Flow


@runtime_checkable
class Backend(Protocol):
    """Executes requests for the gateway; ``process`` may block (it runs on a worker thread)."""

    @property
    def name(self) -> str: ...

    @property
    def served_endpoints(self) -> list[str]: ...

    def serves(self, endpoint: str) -> bool: ...

    def process(self, endpoint: str, docs: DocumentArray, parameters: dict[str, Any], request_id: str) -> Response:
        """Run one request; an executor failure comes back in ``response.error``, not raised."""
        ...

    def status(self, runtime: bool = False) -> dict[str, Any]:
        """What ``GET /status`` answers: name, executors, shards, version, ready; with
        ``runtime``, what each running executor shard reports of itself too."""
        ...

    def observe_executors(self, observer: ExecutorObserver) -> None:
        """Report executor stages to ``observer``; a backend that cannot see them does nothing."""
        ...


class EmbeddedBackend:
    """Runs requests on a Flow's in-process engine."""

    kind = "embedded"

    def __init__(self, flow: Flow):
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

    def process(self, endpoint: str, docs: DocumentArray, parameters: dict[str, Any], request_id: str) -> Response:
        # Docs decoded from a request body belong to nobody else: no defensive copy.
        return self.flow.process(endpoint, docs, parameters, request_id, copy_inputs=False)

    def status(self, runtime: bool = False) -> dict[str, Any]:
        from faasflow import __version__

        described = describe(self.plan)
        engine = self.flow._engine
        if engine is not None:  # in-process instances report themselves (executor.status()) at no cost: always
            for executor in described["executors"]:
                runtime = [instance.status() for instance in engine.instances.get(executor["name"], [])]
                if any(runtime):
                    executor["runtime"] = runtime
        return {**described, "version": __version__, "backend": self.kind, "ready": self.flow.is_started}

    def observe_executors(self, observer: ExecutorObserver) -> None:
        engine = self.flow._engine
        if engine is not None:
            engine.add_observer(observer)
            engine.one_request_per_executor()
