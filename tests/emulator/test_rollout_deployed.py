"""A Flow with a canary rollout, deployed on the emulator: each executor function publishes a
version behind the ``live`` alias and both state machines invoke the aliases. The emulator has
no CodeDeploy, so the deploy leaves the traffic shift out and says so."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from faasflow import Client, Document, DocumentArray, Flow
from faasflow.aws import aws_client
from faasflow.deploy.layers import write
from faasflow.deploy.sam import DEFAULT_REGION as REGION
from faasflow.deploy.sam import deploy
from faasflow.rollout import ALIAS
from faasflow.testing import MiniStack
from tests.support.side_by_side import deployed_with, embedded_with

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]
STACK = "faasflow-canary"
CANARY = "  deploy: {strategy: canary, percent: 10, minutes: 5}\n"


def lambda_resources(definition: dict) -> list[str]:
    """Every FunctionName a Task state of the machine (and of its Map / Parallel branches) invokes."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            parameters = node.get("Parameters") or node.get("Arguments") or {}
            invokes = str(node.get("Resource", "")).startswith("arn:aws:states:::lambda:invoke")
            if invokes and "FunctionName" in parameters:
                found.append(parameters["FunctionName"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definition)
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("canary")
    shutil.copytree(ROOT / "functions", folder / "functions")
    (folder / "orchestrator").mkdir()
    text = (ROOT / "orchestrator" / "flow.yml").read_text().replace("  name: sharded-search\n",
                                                                      "  name: sharded-search\n" + CANARY)
    (folder / "orchestrator" / "flow.yml").write_text(text)
    return folder


@pytest.fixture(scope="module")
def deployment(ministack: MiniStack, project: Path) -> Iterator[tuple[dict, list[str]]]:
    ministack.reset()
    write(Flow.load_config(project / "orchestrator" / "flow.yml").plan, project)
    notes: list[str] = []

    class Notes(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(record.getMessage())

    handler = Notes(logging.WARNING)
    logging.getLogger("faasflow.deploy").addHandler(handler)
    try:
        outputs = deploy(project, STACK, endpoint_url=ministack.endpoint)
    finally:
        logging.getLogger("faasflow.deploy").removeHandler(handler)
    yield outputs, notes


def test_the_template_asks_codedeploy_for_the_canary(project: Path, deployment: tuple[dict, list[str]]):
    from faasflow.deploy.template_file import read_template

    template = read_template((project / "template.yaml").read_text())
    config = template["Resources"]["TrafficShiftConfig"]["Properties"]["TrafficRoutingConfig"]
    assert config == {"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 5}}
    preference = template["Resources"]["DbShard1Function"]["Properties"]["DeploymentPreference"]
    assert preference["Alarms"] == [{"Ref": "DbShard1FunctionErrorsAlarm"}, {"Ref": "DbShard1FunctionThrottlesAlarm"},
                                    {"Ref": "DbShard1FunctionExecutorErrorsAlarm"}]


def test_the_deploy_says_the_emulator_has_no_codedeploy(deployment: tuple[dict, list[str]]):
    _, notes = deployment
    assert any("the emulator has no CodeDeploy" in note and "5 executor function(s)" in note for note in notes), notes


def test_both_state_machines_invoke_the_published_aliases(ministack: MiniStack, deployment: tuple[dict, list[str]]):
    outputs, _ = deployment
    sfn = aws_client("stepfunctions", ministack.endpoint, REGION, dummy_credentials=True)
    lam = aws_client("lambda", ministack.endpoint, REGION, dummy_credentials=True)
    executor_functions = {outputs[key] for key in outputs
                          if key.endswith("FunctionName") and key not in ("GatewayFunctionName", "IngestFunctionName")}
    assert len(executor_functions) == 5  # featurizer, 3 db shards, ranker
    for machine in ("StateMachineArn", "BatchStateMachineArn"):
        definition = json.loads(sfn.describe_state_machine(stateMachineArn=outputs[machine])["definition"])
        invoked = lambda_resources(definition)
        executors = [arn for arn in invoked if arn.rsplit(":", 1)[0].rsplit(":", 1)[-1] in executor_functions]
        assert executors, f"{machine} invokes no executor function: {invoked}"
        for arn in executors:
            assert arn.endswith(f":{ALIAS}"), f"{machine} invokes {arn}, not its alias"
    for name in executor_functions:
        alias = lam.get_alias(FunctionName=name, Name=ALIAS)
        assert alias["FunctionVersion"] not in ("$LATEST", ""), alias


def test_requests_through_the_aliases_answer_like_the_embedded_flow(deployment: tuple[dict, list[str]],
                                                                       project: Path, tmp_path: Path):
    outputs, _ = deployment
    corpus = DocumentArray([Document(id=f"d{i}", text=f"serverless search number {i} of the canary")
                            for i in range(12)])
    query = Document(id="q", text="canary search number 3")
    remote = deployed_with(outputs["ApiUrlLocal"], corpus, request_size=6, timeout=120).post("/query", query)
    for embedded in embedded_with(project / "orchestrator" / "flow.yml", corpus, tmp_path, request_size=6):
        local = embedded.post("/query", query)
    assert len(remote) > 0 and [d.to_dict() for d in remote] == [d.to_dict() for d in local]


def test_a_new_deploy_publishes_a_new_version_behind_the_alias(ministack: MiniStack, project: Path,
                                                                 deployment: tuple[dict, list[str]]):
    outputs, _ = deployment
    lam = aws_client("lambda", ministack.endpoint, REGION, dummy_credentials=True)
    ranker = outputs["RankerFunctionName"]
    before = lam.get_alias(FunctionName=ranker, Name=ALIAS)["FunctionVersion"]
    ranker_code = project / "functions" / "ranker.py"
    ranker_code.write_text(ranker_code.read_text() + "\n# a new release of the ranker\n")
    again = deploy(project, STACK, endpoint_url=ministack.endpoint)
    after = lam.get_alias(FunctionName=ranker, Name=ALIAS)["FunctionVersion"]
    assert after != before and int(after) > int(before)
    with Client(again["ApiUrlLocal"], timeout=120) as client:
        assert len(client.post("/query", Document(id="q", text="canary search number 3"))) > 0


def test_runtime_status_asks_the_containers_behind_the_alias(deployment: tuple[dict, list[str]]):
    import httpx

    outputs, _ = deployment
    answer = httpx.get(f"{outputs['ApiUrlLocal']}/status", params={"runtime": "true"}, timeout=120)
    assert answer.status_code == 200, answer.text
    status = answer.json()
    assert status["ready"] and [e["name"] for e in status["executors"]] == ["featurizer", "db", "ranker"]
