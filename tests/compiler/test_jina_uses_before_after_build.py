"""``uses_before`` / ``uses_after`` in ``faasflow build``: functions of their own, built from
the executor's package, as states of their own around the shard fan-out; ``target_executor``
needs nothing in the template (the gateway passes it in the run input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from faasflow import Flow, FlowConfigError
from faasflow.compiler.artefacts import artefacts
from faasflow.compiler.routes import route_for
from faasflow.deploy.layers import write
from tests.support import wrap_executors
from tests.support.side_by_side import project_of

FLOW = """
jtype: Flow
with:
  name: wrapped
executors:
  - name: first
    uses: wrapfns.executors.Stamp
  - name: db
    uses: wrapfns.executors.ShardTag
    shards: 3
    polling: ALL
    uses_before: wrapfns.executors.Before
    uses_after: wrapfns.executors.MatrixMerger
  - name: last
    uses: wrapfns.executors.Stamp
"""


# one shard: a join whose uses_before gets its needs' outputs, and a uses_after of one answer
ONE_SHARD_FLOW = """
jtype: Flow
with:
  name: oneshard
executors:
  - name: a
    uses: wrapfns.executors.Stamp
  - name: b
    uses: wrapfns.executors.Stamp
    needs: gateway
  - name: j
    uses: wrapfns.executors.ShardTag
    needs: [a, b]
    uses_before: wrapfns.executors.MatrixMerger
    uses_after: wrapfns.executors.MatrixMerger
"""


def _project(tmp_path: Path, flow: str):
    (tmp_path / "project").mkdir()
    with project_of(tmp_path / "project", "wrapfns", wrap_executors.__file__, flow) as root:
        (root / "functions").mkdir()
        yield root


@pytest.fixture
def project(tmp_path: Path):
    yield from _project(tmp_path, FLOW)


@pytest.fixture
def one_shard_project(tmp_path: Path):
    yield from _project(tmp_path, ONE_SHARD_FLOW)


def wrapped(project: Path) -> Flow:
    return Flow.load_config(project / "orchestrator" / "flow.yml")


def test_uses_before_and_after_are_functions_of_their_own_from_the_executors_package(project: Path):
    files = artefacts(wrapped(project).plan, project).files
    resources = yaml.safe_load(files["template.yaml"])["Resources"]
    before, after = resources["DbUsesBeforeFunction"]["Properties"], resources["DbUsesAfterFunction"]["Properties"]
    shard = resources["DbShard0Function"]["Properties"]
    assert before["CodeUri"] == after["CodeUri"] == shard["CodeUri"] == "wrapfns/"
    assert before["Environment"]["Variables"]["FAASFLOW_USES"] == "executors.Before"
    assert after["Environment"]["Variables"]["FAASFLOW_USES"] == "executors.MatrixMerger"
    assert after["Environment"]["Variables"]["FAASFLOW_EXECUTOR"] == "db/uses-after"
    assert after["Environment"]["Variables"]["FAASFLOW_SHARDS"] == "1"
    invokable = json.dumps(resources["FlowStateMachine"]["Properties"]["Policies"])
    assert "DbUsesBeforeFunction" in invokable and "DbUsesAfterFunction" in invokable


def test_the_state_machine_runs_them_around_the_fan_out(project: Path):
    files = artefacts(wrapped(project).plan, project).files
    states = json.loads(files["orchestrator/wrapped.asl.json"])["States"]
    assert states["/search first check"]["Default"] == "/search db/uses-before"
    before = states["/search db/uses-before"]
    assert before["Type"] == "Task" and before["Parameters"]["FunctionName"] == "${DbUsesBeforeFunctionArn}"
    assert states["/search db/uses-before check"]["Default"] == "/search db"
    fan_out = states["/search db"]
    assert fan_out["Type"] == "Parallel" and len(fan_out["Branches"]) == 3
    shard = fan_out["Branches"][0]["States"]["/search db shard 0"]["Parameters"]["Payload"]
    assert shard["input"] == '{"stage":"db/uses-before","mode":"single"}'
    assert states["/search db check"]["Default"] == "/search db/uses-after"
    after = states["/search db/uses-after"]["Parameters"]["Payload"]
    assert after["input"] == '{"shards":"db","mode":"ALL"}'  # every shard's answer, not merged
    assert after["values"] == {"db.$": "$.outputs.db"}
    assert states["/search db/uses-after"]["ResultPath"] == "$.outputs.db_uses_after"
    last = states["/search last"]["Parameters"]["Payload"]
    assert last["input"] == '{"stage":"db/uses-after","mode":"single"}'  # consumers read the uses_after


def test_one_shard_the_helpers_are_tasks_around_the_executors_and_a_joins_uses_before_reads_its_needs(
        one_shard_project: Path):
    files = artefacts(wrapped(one_shard_project).plan, one_shard_project).files
    resources = yaml.safe_load(files["template.yaml"])["Resources"]
    assert {"JFunction", "JUsesBeforeFunction", "JUsesAfterFunction"} <= set(resources)
    states = json.loads(files["orchestrator/oneshard.asl.json"])["States"]
    assert states["/search b check"]["Default"] == "/search j/uses-before"
    before = states["/search j/uses-before"]
    assert before["Type"] == "Task" and before["Parameters"]["FunctionName"] == "${JUsesBeforeFunctionArn}"
    payload = before["Parameters"]["Payload"]
    # the join's input tree (its needs' outputs), not the executor's reduced input
    assert json.loads(payload["input"]) == {"merge": [{"stage": "a", "mode": "single"},
                                                      {"stage": "b", "mode": "single"}]}
    assert payload["values"] == {"a.$": "$.outputs.a", "b.$": "$.outputs.b"}
    assert states["/search j/uses-before check"]["Default"] == "/search j"
    executor = states["/search j"]
    assert executor["Type"] == "Task" and executor["Parameters"]["FunctionName"] == "${JFunctionArn}"
    assert json.loads(executor["Parameters"]["Payload"]["input"]) == {"stage": "j/uses-before", "mode": "single"}
    assert states["/search j check"]["Default"] == "/search j/uses-after"
    after = states["/search j/uses-after"]["Parameters"]["Payload"]
    assert json.loads(after["input"]) == {"shards": "j", "mode": "single"}  # its one answer, as a matrix of one
    assert after["values"] == {"j.$": "$.outputs.j"}
    assert json.loads(states["/search answer"]["Parameters"]["answer"]) == {"stage": "j/uses-after",
                                                                            "mode": "single"}


def test_a_helper_without_a_method_for_the_endpoint_is_no_stage():
    flow = Flow().add(uses=wrap_executors.ShardTag, name="db", shards=2, uses_after=wrap_executors.NoSearch)
    search = route_for(flow.plan, "/search")
    assert [s.spec.name for s in search.stages] == ["db"]
    assert search.answer == {"stage": "db", "mode": "ALL"}  # the built-in merge
    index = route_for(flow.plan, "/index")
    assert [s.spec.name for s in index.stages] == ["db", "db/uses-after"]
    assert index.answer == {"stage": "db/uses-after", "mode": "single"}


def test_names_that_collide_with_a_helpers_are_refused(tmp_path: Path):
    flow = (Flow().add(uses=wrap_executors.ShardTag, name="db", shards=2, uses_after=wrap_executors.MatrixMerger)
            .add(uses=wrap_executors.Stamp, name="db_uses_after"))
    with pytest.raises(FlowConfigError, match="become the same id"):
        artefacts(flow.plan, tmp_path)


@pytest.fixture(params=[FLOW, ONE_SHARD_FLOW], ids=["sharded", "one-shard"])
def either_project(request: pytest.FixtureRequest, tmp_path: Path):
    yield from _project(tmp_path, request.param)


def test_sam_validate_lint_passes_with_uses_after(either_project: Path):
    from faasflow.deploy.sam import validate
    from faasflow.deploy.tools import ToolsUnavailable

    project = either_project
    write(wrapped(project).plan, project)
    try:
        output = validate(project)
    except ToolsUnavailable as exc:
        pytest.skip(f"no SAM CLI env: {exc}")
    assert "is a valid SAM Template" in output
