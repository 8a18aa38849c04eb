"""A Flow posted to the way a deployed one is: a ``Client`` over HTTP to the gateway app on
the Step Functions backend (as in the gateway function), whose runs are the simulated state
machine's. It checks what travels from a request body into the run input and the hops
(``target_executor``, for one) without AWS; ``tests.support.flow_modes`` has the others."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from faasflow import Client, Flow
from faasflow.compiler.decide import gateway_config
from faasflow.parameters import parameter_schemas
from faasflow.runtime.gateway import StepFunctionsBackend
from faasflow.serve import serve_app_in_background
from faasflow.serve.app import create_app
from tests.support import flow_modes
from tests.support.simulate import SimulatedStateMachine, SimulatedStepFunctions


@contextmanager
def deployed_client(flow: Flow, storage: Path) -> Iterator[Client]:
    """A Client of ``flow`` served by the gateway on its simulated state machine."""
    plan = flow.plan
    machine = SimulatedStateMachine(plan, str(storage))
    backend = StepFunctionsBackend("arn:aws:states:::stateMachine:simulated", gateway_config(plan),
                                   client=SimulatedStepFunctions(machine), parameters=parameter_schemas(plan))
    server = serve_app_in_background(create_app(backend), port=0)
    try:
        with Client(server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()


@contextmanager
def open_any(flow: Flow, mode: str, storage: Path) -> Iterator[Any]:
    """``flow`` started for ``mode`` (``flow_modes.MODES``); in ``simulated`` mode through the
    deployed gateway (``deployed_client``), so that every ``post`` keyword travels as on AWS."""
    if mode != "simulated":
        with flow_modes.open_flow(flow, mode, storage) as poster:
            yield poster
        return
    storage.mkdir(parents=True, exist_ok=True)
    with deployed_client(flow, storage / "simulated") as client:
        yield client
