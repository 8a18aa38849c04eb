"""One Flow posted to in each of the three ways it runs: ``embedded`` (``flow.post``),
``served`` (``Flow(protocol='http')`` and a ``Client`` of it) and ``simulated`` (the
state machine the compiler generates, run in this process through the Lambda runtime).

``open_flow(flow, mode, storage)`` starts the Flow and yields a poster whose ``post``
takes what ``Flow.post`` takes (callbacks, ``return_responses``, ``request_size`` and the
Jina options); the simulated poster runs the same post loop as Flow and Client
(``faasflow.posting.run_post``) around the state machine's single run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from faasflow import DocumentArray, Flow
from faasflow.errors import FlowError
from faasflow.flow import IN_PROCESS_POST_OPTIONS
from faasflow.posting import JinaShortcuts, check_post_options, run_post
from faasflow.request import Response, make_response, new_request_id
from tests.support.conformance import free_port

MODES = ("embedded", "served", "simulated")


class SimulatedPoster(JinaShortcuts):
    """``post`` as ``Flow.post`` has it, each batch one run of the simulated state machine."""

    def __init__(self, flow: Flow, storage: Path):
        from tests.support.simulate import SimulatedStateMachine

        self.flow = flow
        self.machine = SimulatedStateMachine(flow.plan, str(storage))

    def _send(self, on: str, docs: DocumentArray, parameters: dict[str, Any]) -> Response:
        try:
            out, results = self.machine.post(on, docs, dict(parameters))
        except FlowError as error:
            return make_response(new_request_id(), on, DocumentArray(), parameters, error)
        answer = dict(parameters)
        if results:
            answer["__results__"] = results
        return make_response(new_request_id(), on, out, answer)

    def post(self, on: str, inputs: Any = None, parameters: dict[str, Any] | None = None,
             results_in_order: bool = False, **options: Any) -> Any:
        known = {"request_size", "show_progress", "on_done", "on_error", "on_always", "return_responses",
                 "continue_on_error", "return_results"}
        check_post_options("Flow.post", {k: v for k, v in options.items() if k not in known},
                           IN_PROCESS_POST_OPTIONS)
        return run_post(self._send, on, inputs, parameters, **{k: v for k, v in options.items() if k in known})


@contextmanager
def open_flow(flow: Flow, mode: str, storage: Path) -> Iterator[Any]:
    """``flow`` started for ``mode``; yields what to call ``post`` on. Executors keep their
    workspace (and the simulated ones their storage) under ``storage``."""
    if mode not in MODES:
        raise ValueError(f"mode is one of {MODES}, got {mode!r}")
    storage.mkdir(parents=True, exist_ok=True)
    if flow.workspace is None:
        flow.workspace = str(storage / "workspace")
    if mode == "embedded":
        with flow:
            yield flow
    elif mode == "served":
        from faasflow import Client

        port = free_port()
        flow.protocol, flow.host, flow.port = "http", "127.0.0.1", port
        with flow, Client(f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    else:
        yield SimulatedPoster(flow, storage / "simulated")


def run_flow(flow: Flow, mode: str, storage: Path, on: str, inputs: Any = None,
             parameters: dict[str, Any] | None = None, **post_kwargs: Any) -> Any:
    """One ``post`` to ``flow`` started for ``mode``: what ``post`` returns."""
    with open_flow(flow, mode, storage) as poster:
        return poster.post(on, inputs, parameters=parameters, **post_kwargs)
