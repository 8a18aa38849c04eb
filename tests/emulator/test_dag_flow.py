"""A second Flow, with a `needs` join and two sharded stages (ANY and ALL), deployed from a
project of its own: it answers like the embedded engine on every endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faasflow import Client, Document, DocumentArray, Flow
from faasflow.client import GatewayFlowError
from faasflow.deploy.layers import write
from faasflow.testing import MiniStack
from tests.support import dag_executors
from tests.support.side_by_side import deployed_and_embedded, project_of

pytestmark = pytest.mark.emulator


FLOW = """
jtype: Flow
with:
  name: dag-check
executors:
  - name: start
    uses: dagfns.executors.Tag
  - name: left
    uses: dagfns.executors.Scores
    shards: 2
    polling: {/search: ALL, '*': ANY}
    needs: start
  - name: right
    uses: dagfns.executors.Tag
    shards: 3
    needs: start
  - name: join
    uses: dagfns.executors.Join
    needs: [left, right]
  - name: tail
    uses: dagfns.executors.Tag
    shards: 2
    polling: ALL
    needs: join
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with project_of(tmp_path_factory.mktemp("dag-project"), "dagfns", dag_executors.__file__, FLOW) as root:
        yield root


@pytest.fixture(scope="module")
def flows(project: Path, ministack: MiniStack) -> Iterator[tuple[Client, Flow]]:
    ministack.reset()
    with deployed_and_embedded(project, "faasflow-dag", ministack.endpoint) as both:
        yield both


@pytest.mark.parametrize(
    ("endpoint", "parameters"),
    [("/search", {"limit": 4}), ("/search", {}), ("/split", {}), ("/anything", {})],
)
def test_dag_conforms(flows: tuple[Client, Flow], endpoint: str, parameters: dict):
    client, embedded = flows
    docs = DocumentArray(Document(id=f"d{i}", text=f"t{i}") for i in range(11))
    remote = client.post(endpoint, docs, parameters=parameters)
    local = embedded.post(endpoint, docs, parameters=parameters)
    assert [d.to_dict() for d in remote] == [d.to_dict() for d in local]
    assert len(remote) >= 11


def test_dag_error_in_the_join(flows: tuple[Client, Flow]):
    client, _ = flows
    with pytest.raises(GatewayFlowError) as info:
        client.post("/boom", Document(id="x"))
    assert (info.value.executor, info.value.shard, info.value.endpoint) == ("join", 0, "/boom")
    assert info.value.error_type == "KeyError"


def test_dag_template_passes_sam_validate_lint(project: Path, emulator_tools: None):
    from faasflow.deploy.sam import validate

    write(Flow.load_config(project / "orchestrator" / "flow.yml").plan, project)
    assert "is a valid SAM Template" in validate(project)
