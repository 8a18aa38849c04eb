"""The closing sweep: every hostile input of the catalogue (tests/support/hostile.py) sent
to a sharded vector index, served over HTTP and behind the gateway function on the
simulated state machine. Each must be a 4xx that says what is wrong, store nothing, and
leave every shard answering as before; the sweep prints its tally (the goal table)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faasflow import Flow
from faasflow.compiler.decide import gateway_config
from faasflow.embedded import EmbeddedBackend
from faasflow.executors import VectorIndexer
from faasflow.parameters import parameter_schemas
from faasflow.runtime.gateway import StepFunctionsBackend
from faasflow.serve import serve_app_in_background
from faasflow.serve.app import create_app
from tests.support import hostile
from tests.support.simulate import SimulatedStateMachine, SimulatedStepFunctions

MAX_BODY = 1024 * 1024


def index_flow(workspace: Path) -> Flow:
    return Flow(name="hostile", workspace=str(workspace)).add(
        uses=VectorIndexer, name="vi", shards=2,
        polling={"/search": "ALL", "/count": "ALL", "/index": "ANY", "/update": "ALL"})


@pytest.fixture(params=["served", "deployed"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    flow = index_flow(tmp_path / "workspace")
    if request.param == "served":
        with flow:
            server = serve_app_in_background(create_app(EmbeddedBackend(flow), max_body_bytes=MAX_BODY), port=0)
            try:
                yield request.param, server.url
            finally:
                server.stop()
        return
    plan = flow.plan
    machine = SimulatedStateMachine(plan, str(tmp_path / "s3"))
    backend = StepFunctionsBackend("arn:aws:states:::stateMachine:hostile", gateway_config(plan),
                                   client=SimulatedStepFunctions(machine), parameters=parameter_schemas(plan))
    server = serve_app_in_background(create_app(backend, max_body_bytes=MAX_BODY), port=0)
    try:
        yield request.param, server.url
    finally:
        server.stop()


def test_every_hostile_input_is_a_clear_4xx_and_changes_nothing(gateway: tuple[str, str]) -> None:
    mode, url = gateway
    tally = hostile.run(url)
    print(tally.line(mode))
    assert tally.tried == len(hostile.HOSTILE)
    assert tally.server_errors == []
    assert tally.partial_commits == []
    assert tally.not_answering == []
    assert tally.unclear == []


def test_the_named_thing_is_in_the_answer(gateway: tuple[str, str]) -> None:
    """Where the catalogue names a doc or a parameter, the 4xx names it too."""
    _, url = gateway
    hostile.run(url, {})  # seeded: the index has a dimension
    named = {
        "index: another dimension": "bad",
        "index: NaN (array)": "bad",
        "index: complex": "bad",
        "search: limit -1": "limit",
        "search: metric 'nope'": "metric",
        "search: another dimension": "q",
    }
    for name, answer in hostile.sweep(url, {k: hostile.HOSTILE[k] for k in named}):
        assert 400 <= answer.status_code < 500, name
        assert named[name] in answer.text, (name, answer.text)
