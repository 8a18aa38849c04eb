"""faasflow build: the SAM template and state machine compiled from a Plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from faasflow import Flow, FlowConfigError
from faasflow.compiler.artefacts import artefacts, stale
from faasflow.deploy.layers import write
from tests.support.dag_executors import dag_flow

ROOT = Path(__file__).resolve().parents[2]


def reference() -> Flow:
    return Flow.load_config(ROOT / "orchestrator" / "flow.yml")


def test_committed_template_and_state_machine_are_fresh():
    assert stale(reference().plan, ROOT) == [], "run `faasflow build orchestrator/flow.yml` and commit the result"


def test_committed_semantic_template_and_its_image_are_fresh():
    semantic = Flow.load_config(ROOT / "orchestrator" / "semantic.yml")
    assert stale(semantic.plan, ROOT, "template.semantic.yaml") == [], (
        "run `faasflow build orchestrator/semantic.yml --template template.semantic.yaml` and commit the result")


def test_faasflows_own_executors_come_with_the_layer_not_as_project_code():
    semantic = Flow.load_config(ROOT / "orchestrator" / "semantic.yml")
    files = artefacts(semantic.plan, ROOT, "template.semantic.yaml").files
    resources = yaml.safe_load(files["template.semantic.yaml"])["Resources"]
    shard = resources["IndexShard0Function"]["Properties"]
    assert shard["CodeUri"] == ".faasflow/build/layer-only/"
    assert shard["Environment"]["Variables"]["FAASFLOW_USES"] == "faasflow.executors.vector_indexer.VectorIndexer"
    assert resources["RankerFunction"]["Properties"]["CodeUri"] == "functions/"
    assert resources["EncoderFunction"]["Properties"]["PackageType"] == "Image"
    assert "template.yaml" not in files  # a second Flow of the project has a template of its own


def test_one_function_per_executor_shard_with_least_privilege():
    files = artefacts(reference().plan, ROOT).files
    template = yaml.safe_load(files["template.yaml"])
    resources = template["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert sorted(functions) == sorted(
        [
            "FeaturizerFunction",
            "DbShard0Function",
            "DbShard1Function",
            "DbShard2Function",
            "RankerFunction",
            "GatewayFunction",
            "IngestFunction",
            "BatchWorkerFunction",
        ]
    )
    shard1 = functions["DbShard1Function"]["Properties"]
    env = shard1["Environment"]["Variables"]
    assert env["FAASFLOW_USES"] == "doc_store.DocStore" and shard1["CodeUri"] == "functions/"
    assert (env["FAASFLOW_SHARD"], env["FAASFLOW_SHARDS"]) == ("1", "3")
    statements = shard1["Policies"][0]["Statement"]
    resources_text = json.dumps(statements)
    assert "state/db/1/*" in resources_text and "state/db/0/" not in resources_text
    # executors get no FastAPI: only the gateway has the gateway layer
    assert {"Ref": "GatewayLayer"} not in shard1["Layers"]
    assert {"Ref": "GatewayLayer"} in functions["GatewayFunction"]["Properties"]["Layers"]
    machine = resources["FlowStateMachine"]["Properties"]
    assert machine["Type"] == "EXPRESS"
    invokable = machine["Policies"][0]["Statement"][0]["Resource"]
    assert len(invokable) == 5 and all("Fn::GetAtt" in r for r in invokable)
    routes = {e["Properties"]["Path"] for e in functions["GatewayFunction"]["Properties"]["Events"].values()}
    assert {"/index", "/query", "/count", "/status", "/{proxy+}"} <= routes


def test_state_machine_routes_and_fan_out():
    files = artefacts(reference().plan, ROOT).files
    asl = json.loads(files["orchestrator/sharded-search.asl.json"])
    states = asl["States"]
    route = states["route"]
    # /search: the db's default method serves it, ALL as Jina polls /search (its '*' is ANY)
    assert {c["StringEquals"] for c in route["Choices"]} == {"/index", "/query", "/count", "/search"}
    assert route["Default"] == "* featurizer"  # the featurizer's default method serves any endpoint
    fan_out = states["/query db"]
    assert fan_out["Type"] == "Parallel" and len(fan_out["Branches"]) == 3
    task = fan_out["Branches"][1]["States"]["/query db shard 1"]
    assert task["Parameters"]["FunctionName"] == "${DbShard1FunctionArn}"
    assert task["Retry"][0]["JitterStrategy"] == "FULL"
    assert task["Catch"][0]["Next"] == "/query db shard 1 crashed"
    assert "/index ranker" not in states  # the ranker has no /index method: not invoked at all


def test_api_key_auth(tmp_path: Path):
    flow = reference()
    flow.auth = "api_key"
    template = yaml.safe_load(artefacts(flow.plan, ROOT).files["template.yaml"])
    assert template["Resources"]["FlowApi"]["Properties"]["Auth"]["ApiKeyRequired"] is True


def test_write_stages_layers_and_check_detects_staleness(tmp_path: Path):
    (tmp_path / "functions").mkdir()
    flow = reference()
    write(flow.plan, tmp_path)
    assert stale(flow.plan, tmp_path) == []
    assert (tmp_path / ".faasflow/build/layers/faasflow/python/faasflow/runtime/handler.py").is_file()
    assert (tmp_path / "layers/runtime/requirements.txt").is_file()
    (tmp_path / "template.yaml").write_text("edited by hand\n")
    assert stale(flow.plan, tmp_path) == ["template.yaml"]


def test_bare_class_names_cannot_be_imported_in_a_function(tmp_path: Path):
    from faasflow.executor import EXECUTOR_CLASSES
    from tests.support.executors import Append

    EXECUTOR_CLASSES.setdefault("Append", Append)
    with pytest.raises(FlowConfigError, match="executor 'a', field 'uses'"):
        artefacts(Flow().add(uses="Append", name="a").plan, tmp_path)


def test_dag_flow_compiles(tmp_path: Path):
    files = artefacts(dag_flow().plan, tmp_path).files
    asl = json.loads(next(t for p, t in files.items() if p.endswith("dag.asl.json")))
    states = asl["States"]
    assert states["/search join"]["Parameters"]["Payload"]["input"] == (
        '{"merge":[{"stage":"left","mode":"ALL"},{"stage":"right","mode":"ALL"}]}'  # /search: ALL by default
    )
    # "join" has no /split method: "tail" reads (and merges) what it would have passed on
    tail = states["/split tail"]["Branches"][0]["States"]["/split tail shard 0"]
    assert tail["Parameters"]["Payload"]["input"] == (
        '{"merge":[{"stage":"left","mode":"ANY"},{"stage":"right","mode":"ANY"}]}'
    )


def test_names_that_collide_on_aws_are_refused():
    from faasflow.compiler.asl import compile_asl
    from tests.support.executors import Append

    flow = Flow().add(uses=Append, name="doc-store").add(uses=Append, name="doc_store")
    with pytest.raises(FlowConfigError, match="same id"):
        compile_asl(flow.plan)


def test_an_environment_over_lambdas_4_kb_is_refused_at_build(tmp_path: Path):
    from faasflow.compiler.template import ENVIRONMENT_LIMIT, environment_size

    flow = Flow(name="big").add(uses="functions.doc_store.DocStore", name="db", uses_with={"note": "x" * 4000})
    with pytest.raises(FlowConfigError, match=r"executor 'db', field 'uses_with': function DbFunction's environment"):
        artefacts(flow.plan, tmp_path)
    template = yaml.safe_load(artefacts(reference().plan, ROOT).files["template.yaml"])
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    gateway = template["Resources"]["GatewayFunction"]["Properties"]["Environment"]["Variables"]
    assert environment_size({**shared, **gateway}) < ENVIRONMENT_LIMIT / 2  # the reference app has room to grow
