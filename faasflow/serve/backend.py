"""What the gateway runs requests on: a ``Backend``.

The FastAPI app knows only this protocol, so the same app serves the embedded engine here
and a Step Functions backend inside Lambda. Nothing here knows the Flow: the Flow's own
backend is ``faasflow.embedded.EmbeddedBackend``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from faasflow.array import DocumentArray
from faasflow.engine import StageObserver as ExecutorObserver
from faasflow.request import Response


@runtime_checkable
class Backend(Protocol):
    """Executes requests for the gateway; ``process`` may block (it runs on a worker thread)."""

    @property
    def name(self) -> str: ...

    @property
    def served_endpoints(self) -> list[str]: ...

    def serves(self, endpoint: str) -> bool: ...

    def process(self, endpoint: str, docs: DocumentArray, parameters: dict[str, Any], request_id: str,
                target_executor: str | None = None) -> Response:
        """Run one request; an executor failure comes back in ``response.error``, not raised.
        ``target_executor`` (a regular expression; the gateway passes it only when the
        request has one): only the executors it matches run; one that matches no executor
        raises ``faasflow.errors.UnknownTargetError``."""
        ...

    def status(self, runtime: bool = False) -> dict[str, Any]:
        """What ``GET /status`` answers: name, executors, shards, version, ready; with
        ``runtime``, what each running executor shard reports of itself too."""
        ...

    def observe_executors(self, observer: ExecutorObserver) -> None:
        """Report executor stages to ``observer``; a backend that cannot see them does nothing."""
        ...
