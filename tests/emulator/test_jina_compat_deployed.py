"""Jina's ``uses_after`` and ``target_executor`` deployed: a sharded executor whose
uses_after merges its shards' answers is a function and a state of its own after the fan-out,
and a ``target_executor`` request runs only the executors it matches; both answer as the
embedded engine does. One deploy for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faasflow import Client, Document, DocumentArray, Flow
from faasflow.client.errors import GatewayUnknownTargetError
from faasflow.testing import MiniStack
from tests.support import wrap_executors
from tests.support.side_by_side import deployed_and_embedded, project_of

pytestmark = pytest.mark.emulator

FLOW = """
jtype: Flow
with:
  name: jina-compat
executors:
  - name: first
    uses: wrapfns.executors.Stamp
  - name: db
    uses: wrapfns.executors.ShardTag
    shards: 2
    polling: {/index: ALL}
    uses_after: wrapfns.executors.MatrixMerger
"""


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory, ministack: MiniStack) -> Iterator[tuple[Client, Flow]]:
    root = tmp_path_factory.mktemp("jina-compat") / "project"
    root.mkdir()
    with project_of(root, "wrapfns", wrap_executors.__file__, FLOW) as project:
        (Path(project) / "functions").mkdir()
        ministack.reset()
        with deployed_and_embedded(project, "faasflow-jina-compat", ministack.endpoint) as both:
            yield both


def docs() -> DocumentArray:
    return DocumentArray(Document(id=f"d{i}", text=f"t{i}") for i in range(3))


def test_uses_after_merges_the_shards_answers_as_embedded(flows: tuple[Client, Flow]):
    client, embedded = flows
    remote = client.post("/index", docs())
    local = embedded.post("/index", docs())
    assert [d.to_dict() for d in remote] == [d.to_dict() for d in local]
    assert remote[0].id == "merged" and remote[0].tags["rows"] == 2
    assert remote[0].tags["shard_of_docs"] == [1, 1, 1, 0, 0, 0]


def test_a_target_executor_request_runs_only_what_it_matches(flows: tuple[Client, Flow]):
    client, embedded = flows
    remote = client.post("/index", docs(), target_executor="fir")
    local = embedded.post("/index", docs(), target_executor="fir")
    assert [d.to_dict() for d in remote] == [d.to_dict() for d in local]
    assert remote.ids == ["d0", "d1", "d2"] and all(d.tags["path"] == ["first"] for d in remote)
    with pytest.raises(GatewayUnknownTargetError, match="target_executor"):
        client.post("/index", docs(), target_executor="nothing")
