"""Operating a deployed Flow, as the template says it: gradual deploys behind aliases
(``deploy:``), alarms on functions, machines, the API and embedding drift, their SNS topic,
and a dashboard (``monitoring:``). ``sam validate --lint`` must accept every variant."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from faasflow import Flow, FlowConfigError
from faasflow.compiler.artefacts import artefacts
from faasflow.executors.drift import DRIFT_NAMESPACE, SIMILARITY_RATIO_METRIC
from faasflow.flow_yaml import read_flow_config

ROOT = Path(__file__).resolve().parents[2]
INDEXER = "faasflow.executors.vector_indexer.VectorIndexer"
EXECUTOR_FUNCTIONS = ("FeaturizerFunction", "DbShard0Function", "DbShard1Function", "DbShard2Function",
                      "RankerFunction")


def reference(**options) -> Flow:
    flow = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
    for key, value in options.items():
        setattr(flow, key, value)
    return flow


def template_of(flow: Flow, project: Path = ROOT) -> dict:
    return yaml.safe_load(artefacts(flow.plan, project).files["template.yaml"])


def resources_of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def indexer_flow(**options) -> Flow:
    return Flow(name="vectors", **options).add(uses=INDEXER, name="index", shards=2, uses_with={"metric": "cosine"})


# --- gradual deploys ---


def test_all_at_once_is_the_default_and_the_machines_invoke_the_functions():
    template = template_of(reference())
    for function_id in EXECUTOR_FUNCTIONS:
        properties = template["Resources"][function_id]["Properties"]
        assert "AutoPublishAlias" not in properties and "DeploymentPreference" not in properties
    substitutions = template["Resources"]["FlowStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert substitutions["DbShard1FunctionArn"] == {"Fn::GetAtt": ["DbShard1Function", "Arn"]}
    assert not resources_of_type(template, "AWS::CodeDeploy::DeploymentConfig")


@pytest.mark.parametrize("deploy, routing", [
    ({"strategy": "canary", "percent": 10, "minutes": 5},
     {"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 5}}),
    ({"strategy": "linear", "percent": 25, "minutes": 3},
     {"Type": "TimeBasedLinear", "TimeBasedLinear": {"LinearPercentage": 25, "LinearInterval": 3}}),
    ("canary", {"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 5}}),
])
def test_a_rollout_publishes_every_executor_behind_an_alias_that_both_machines_invoke(deploy, routing):
    template = template_of(reference(deploy=deploy))
    (config_id, config), = resources_of_type(template, "AWS::CodeDeploy::DeploymentConfig").items()
    assert config["Properties"] == {"ComputePlatform": "Lambda", "TrafficRoutingConfig": routing}
    for function_id in EXECUTOR_FUNCTIONS:
        properties = template["Resources"][function_id]["Properties"]
        assert properties["AutoPublishAlias"] == "live"
        assert properties["DeploymentPreference"] == {
            "Type": {"Ref": config_id},
            "Alarms": [{"Ref": f"{function_id}ErrorsAlarm"}, {"Ref": f"{function_id}ThrottlesAlarm"},
                       {"Ref": f"{function_id}ExecutorErrorsAlarm"}]}
        for machine in ("FlowStateMachine", "BatchStateMachine"):
            machine_properties = template["Resources"][machine]["Properties"]
            assert machine_properties["DefinitionSubstitutions"][f"{function_id}Arn"] == {"Ref": f"{function_id}.Alias"}
            invoke = machine_properties["Policies"][0]["Statement"][0]
            assert {"Fn::Sub": f"${{{function_id}.Arn}}:*"} in invoke["Resource"]  # the alias is a qualified ARN
    for function_id in ("GatewayFunction", "IngestFunction", "BatchWorkerFunction"):  # not executors: as they were
        assert "AutoPublishAlias" not in template["Resources"][function_id]["Properties"]
    # GET /status?runtime=true asks the containers behind the alias, the ones that serve requests
    gateway = template["Resources"]["GatewayFunction"]["Properties"]
    names = json.loads(gateway["Environment"]["Variables"]["FAASFLOW_EXECUTOR_FUNCTIONS"]["Fn::Sub"])
    assert names["db"] == ["${DbShard0Function}:live", "${DbShard1Function}:live", "${DbShard2Function}:live"]
    invoke = next(s for s in gateway["Policies"][0]["Statement"] if s["Action"] == ["lambda:InvokeFunction"])
    assert {"Fn::Sub": "${DbShard0Function.Arn}:*"} in invoke["Resource"]


def test_a_rollout_reaches_image_functions_too(tmp_path: Path):
    pytest.importorskip("onnx", reason="onnx (dev extra) builds the tiny test model")
    from tests.support.image_project import image_flow, make_project

    flow = image_flow()
    flow.deploy = {"strategy": "linear", "percent": 10, "minutes": 1}
    template = template_of(flow, make_project(tmp_path / "project"))
    images = {k: r for k, r in resources_of_type(template, "AWS::Serverless::Function").items()
              if r["Properties"].get("PackageType") == "Image"}
    assert images and all(r["Properties"]["AutoPublishAlias"] == "live" for r in images.values())


@pytest.mark.parametrize("deploy, message", [
    ({"strategy": "blue-green"}, "deploy.strategy must be one of all_at_once, canary, linear"),
    ({"strategy": "canary", "percent": 0}, "deploy.percent must be a whole number from 1 to 99, got 0"),
    ({"strategy": "canary", "percent": 100}, "deploy.percent must be a whole number from 1 to 99, got 100"),
    ({"strategy": "linear", "percent": "10"}, "deploy.percent must be a whole number from 1 to 99, got '10'"),
    ({"strategy": "linear", "percent": True}, "deploy.percent must be a whole number from 1 to 99, got True"),
    ({"strategy": "canary", "minutes": 0}, "deploy.minutes must be a whole number from 1 to 1440, got 0"),
    ({"strategy": "canary", "minutes": 2.5}, "deploy.minutes must be a whole number from 1 to 1440, got 2.5"),
    ({"strategy": "canary", "interval": 5}, "unknown deploy option(s) interval"),
    ({"strategy": "all_at_once", "percent": 10}, "deploy.percent means nothing with strategy all_at_once"),
    ([1, 2], "deploy must be a mapping"),
    ({}, "deploy.strategy must be one of"),
])
def test_a_bad_deploy_option_is_refused_naming_it(deploy, message):
    with pytest.raises(FlowConfigError, match=re.escape(message)) as caught:
        _ = reference(deploy=deploy).plan
    assert "field 'deploy'" in str(caught.value)


def test_all_at_once_spelled_out_is_the_default():
    assert reference(deploy={"strategy": "all_at_once"}).plan.rollout is None


def test_bad_monitoring_is_refused_naming_it():
    with pytest.raises(FlowConfigError, match="field 'monitoring'.*monitoring must be true or false, got 'yes'"):
        _ = reference(monitoring="yes").plan


def test_deploy_and_monitoring_round_trip_through_the_flow_yaml(tmp_path: Path):
    flow = Flow(name="ops", deploy={"strategy": "linear", "percent": 20, "minutes": 2}, monitoring=False)
    flow = flow.add(name="echo")
    flow.save_config(str(tmp_path / "flow.yml"))
    options = read_flow_config(tmp_path / "flow.yml").options
    assert options["deploy"] == {"strategy": "linear", "percent": 20, "minutes": 2} and options["monitoring"] is False
    again = Flow.load_config(tmp_path / "flow.yml").plan
    assert again.rollout == flow.plan.rollout and again.monitoring is False


# --- alarms, topic and dashboard ---


def test_every_function_machine_and_the_api_has_its_alarms_notifying_one_topic():
    template = template_of(reference())
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    for function_id in EXECUTOR_FUNCTIONS:
        errors, throttles = alarms[f"{function_id}ErrorsAlarm"], alarms[f"{function_id}ThrottlesAlarm"]
        assert (errors["Properties"]["MetricName"], throttles["Properties"]["MetricName"]) == ("Errors", "Throttles")
        assert errors["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
        executor_errors = alarms[f"{function_id}ExecutorErrorsAlarm"]["Properties"]  # the envelope's errors
        assert (executor_errors["Namespace"], executor_errors["MetricName"]) == ("faasflow", "ShardErrors")
        assert [d["Name"] for d in executor_errors["Dimensions"]] == ["service", "executor", "shard"]
        duration = alarms[f"{function_id}DurationAlarm"]["Properties"]
        timeout = template["Resources"][function_id]["Properties"]["Timeout"]
        assert duration["ExtendedStatistic"] == "p99" and duration["Threshold"] == timeout * 1000 * 0.8
    for machine in ("FlowStateMachine", "BatchStateMachine"):
        assert alarms[f"{machine}FailedAlarm"]["Properties"]["MetricName"] == "ExecutionsFailed"
        assert alarms[f"{machine}TimedOutAlarm"]["Properties"]["Dimensions"] == [
            {"Name": "StateMachineArn", "Value": {"Ref": machine}}]
    api_5xx, api_latency = alarms["ApiServerErrorsAlarm"]["Properties"], alarms["ApiLatencyAlarm"]["Properties"]
    assert (api_5xx["MetricName"], api_5xx["Statistic"], api_5xx["Threshold"]) == ("5XXError", "Average", 0.05)
    assert api_latency["ExtendedStatistic"] == "p99" and api_latency["Threshold"] == 23_200
    assert template["Resources"]["FlowApi"]["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}"}
    assert {d["Name"]: d["Value"] for d in api_5xx["Dimensions"]} == {"ApiName": {"Ref": "AWS::StackName"},
                                                                     "Stage": "Prod"}
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert template["Resources"]["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail" and subscription["Properties"]["Endpoint"] == {
        "Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}


def dashboard_body(template: dict) -> dict:
    """The dashboard's JSON with its ``${...}`` placeholders filled in as CloudFormation would."""
    text = template["Resources"]["FlowDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{(?!!)([^}]+)\}", lambda m: f"<{m.group(1)}>", text).replace("${!", "${")
    return json.loads(filled)


def test_the_dashboard_has_the_api_on_top_and_one_row_per_stage_from_the_hop_metrics():
    body = dashboard_body(template_of(reference()))
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles[:3] == ["API requests and errors", "API latency p50 / p99", "Requests through the state machine"]
    rows: dict[int, list[str]] = {}
    for widget in body["widgets"][3:]:
        rows.setdefault(widget["y"], []).append(widget["properties"]["title"])
    assert [row[0].split(":")[0] for row in rows.values()] == ["featurizer", "db", "ranker"]
    hop_searches = json.dumps(body)
    for metric in ("DocsProcessed", "HopLatency", "ExecutorErrors"):
        assert f'MetricName=\\"{metric}\\" executor=\\"db\\" service=\\"sharded-search\\"' in hop_searches
    assert all(w["properties"]["region"] == "<AWS::Region>" for w in body["widgets"])


def test_names_from_the_flow_stay_literal_in_the_dashboard():
    flow = Flow(name="odd").add(name="${AWS::AccountId}-stage").add(name="it's \"db\"")
    body = dashboard_body(template_of(flow))
    assert any(w["properties"]["title"].startswith("${AWS::AccountId}-stage:") for w in body["widgets"])
    searches = [m[0]["expression"] for w in body["widgets"] for m in w["properties"]["metrics"]
                if isinstance(m[0], dict) and "DocsProcessed" in m[0]["expression"]]
    # a quote in a name is backslash-escaped: neither the term nor the expression ends early
    assert """executor="it\\'s \\"db\\"" service="odd"', 'Sum', 60)""" in searches[-1]


def test_a_vector_index_gets_a_drift_alarm_per_shard_on_the_metrics_it_emits():
    template = template_of(indexer_flow())
    for shard in (0, 1):
        alarm = template["Resources"][f"IndexShard{shard}FunctionDriftAlarm"]["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"]) == (DRIFT_NAMESPACE, SIMILARITY_RATIO_METRIC)
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "vectors"}, {"Name": "executor", "Value": "index"},
                                       {"Name": "shard", "Value": str(shard)}]
        assert (alarm["Statistic"], alarm["EvaluationPeriods"], alarm["Period"]) == ("Average", 3, 300)
        assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 0.8
    body = dashboard_body(template)
    assert any("similarity to the centroid" in w["properties"]["title"] for w in body["widgets"])
    assert not any(k.endswith("DriftAlarm") for k in template_of(reference())["Resources"])


def test_monitoring_false_leaves_out_the_topic_dashboard_and_alarms():
    template = template_of(reference(monitoring=False))
    assert not resources_of_type(template, "AWS::CloudWatch::Alarm")
    assert not resources_of_type(template, "AWS::SNS::Topic") and "FlowDashboard" not in template["Resources"]
    assert "Parameters" not in template and "Conditions" not in template and "AlarmTopicArn" not in template["Outputs"]


def test_a_rollout_without_monitoring_keeps_the_rollback_alarms_only():
    template = template_of(reference(monitoring=False, deploy="canary"))
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    assert sorted(alarms) == sorted(f"{f}{kind}Alarm" for f in EXECUTOR_FUNCTIONS
                                    for kind in ("Errors", "Throttles", "ExecutorErrors"))
    assert all("AlarmActions" not in alarm["Properties"] for alarm in alarms.values())


# --- sam validate --lint on every variant ---

VARIANTS = {
    "default": {},
    "canary": {"deploy": {"strategy": "canary", "percent": 10, "minutes": 5}},
    "linear": {"deploy": {"strategy": "linear", "percent": 20, "minutes": 2}},
    "no-monitoring": {"monitoring": False},
    "canary-no-monitoring": {"deploy": "canary", "monitoring": False},
}


@pytest.mark.parametrize("variant", [*VARIANTS, "vector-index-canary"])
def test_sam_validate_lint_accepts_every_variant(variant: str, tmp_path: Path):
    from faasflow.deploy.layers import write
    from faasflow.deploy.sam import validate
    from faasflow.deploy.tools import ToolsUnavailable

    project = tmp_path / "project"
    shutil.copytree(ROOT / "functions", project / "functions")
    flow = indexer_flow(deploy="canary") if variant == "vector-index-canary" else reference(**VARIANTS[variant])
    write(flow.plan, project)
    try:
        output = validate(project)
    except ToolsUnavailable as exc:
        pytest.skip(f"no SAM CLI env: {exc}")
    assert "is a valid SAM Template" in output


# --- the command line ---


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faasflow", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def project_with(tmp_path: Path, options: str) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "functions", project / "functions")
    (project / "orchestrator").mkdir()
    text = (ROOT / "orchestrator" / "flow.yml").read_text()
    (project / "orchestrator" / "flow.yml").write_text(text.replace("  name: sharded-search\n",
                                                                    f"  name: sharded-search\n{options}"))
    return project


@pytest.mark.parametrize("options, message", [
    ("  deploy: {strategy: canary, percent: 150}\n", "deploy.percent must be a whole number from 1 to 99, got 150"),
    ("  deploy: blue-green\n", "deploy.strategy must be one of all_at_once, canary, linear, got 'blue-green'"),
    ("  monitoring: maybe\n", "monitoring must be true or false, got 'maybe'"),
])
def test_faasflow_build_refuses_a_bad_option_in_one_line(tmp_path: Path, options: str, message: str):
    project = project_with(tmp_path, options)
    done = cli("build", "orchestrator/flow.yml", cwd=project)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not (project / "template.yaml").exists()  # nothing written half-way


@pytest.mark.parametrize("options, email, message", [
    ("", "not-an-address", "--alarm-email must be an email address, got 'not-an-address'"),
    ("  monitoring: false\n", "ops@example.com", "--alarm-email needs the Flow's alarms, and it has monitoring: false"),
])
def test_faasflow_deploy_refuses_an_alarm_email_it_cannot_honour(tmp_path: Path, options: str, email: str,
                                                                 message: str):
    project = project_with(tmp_path, options)
    done = cli("deploy", "orchestrator/flow.yml", "--alarm-email", email, "--endpoint-url", "http://127.0.0.1:9",
               cwd=project)
    assert done.returncode == 2 and done.stderr.strip() == f"faasflow: error: {message}", done.stderr
    assert not (project / "template.yaml").exists()
