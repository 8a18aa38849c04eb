"""Declared parameter models: an endpoint's ``parameters`` are checked against its pydantic
model before any executor runs, with the same answer embedded, served, through the
simulated state machine and through the gateway function (which reads the schemas the
build wrote beside it, importing no executor code); the OpenAPI schema shows the model."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import BaseModel, Field, field_validator

from faasflow import Document, DocumentArray, Executor, Flow, FlowError, requests
from faasflow.client.errors import GatewayBadInputError
from faasflow.compiler.artefacts import artefacts
from faasflow.compiler.decide import gateway_config
from faasflow.compiler.layout import gateway_code_dir
from faasflow.errors import FlowConfigError
from faasflow.executors import VectorIndexer
from faasflow.parameters import SCHEMAS_FILE, ParameterError, read_schemas
from faasflow.runtime.gateway import StepFunctionsBackend
from faasflow.serve import BackgroundServer, serve_app_in_background
from faasflow.serve.app import create_app
from tests.support.conformance import ExecutorCase, FlowCase, Modes, free_port, three_modes
from tests.support.simulate import SimulatedStepFunctions


class Window(BaseModel):
    start: int = Field(0, ge=0)


class RankParams(BaseModel):
    limit: int = Field(10, ge=1, le=100)
    order: str = "desc"
    window: Window | None = None

    @field_validator("order")
    @classmethod
    def known_order(cls, value: str) -> str:  # what JSON Schema cannot say: checked in the executor
        if value not in ("asc", "desc"):
            raise ValueError("order is asc or desc")
        return value


CALLS: list[str] = []


class Prepare(Executor):
    """Declares nothing; records that it ran (it comes first in the Flow)."""

    @requests
    def prepare(self, docs: DocumentArray, **kwargs: Any) -> None:
        CALLS.append("prepare")


class Rank(Executor):
    """Declares its model in the decorator: it gets the dict."""

    @requests(on="/rank", parameters=RankParams)
    def rank(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> None:
        CALLS.append("rank")
        for doc in docs:
            doc.tags["limit_seen"] = parameters.get("limit")


class Typed(Executor):
    """Annotates ``parameters`` with the model: it gets the instance."""

    @requests(on="/rank")
    def rank(self, docs: DocumentArray, parameters: RankParams, **kwargs: Any) -> None:
        CALLS.append("typed")
        for doc in docs:
            doc.tags["typed"] = [type(parameters).__name__, parameters.limit, parameters.order]


@dataclass(frozen=True)
class ParamCase(FlowCase):
    def flow(self, module: str = __name__, name: str = "params") -> Flow:
        return super().flow(module, name)


CASE = ParamCase((ExecutorCase(name="prep", uses="Prepare"), ExecutorCase(name="ranker", uses="Rank", needs=("prep",)),
                  ExecutorCase(name="typed", uses="Typed", needs=("ranker",))))


@pytest.fixture
def modes(tmp_path: Path) -> Iterator[Modes]:
    with three_modes(CASE, tmp_path / "s3") as started:
        yield started


@pytest.fixture
def gateway_function(modes: Modes, tmp_path: Path) -> Iterator[BackgroundServer]:
    """The gateway function's app on the simulated state machine, knowing the models only
    from the file the build wrote into its code folder."""
    plan = modes.embedded.plan
    files = artefacts(plan, tmp_path / "project").files
    folder = tmp_path / "project" / gateway_code_dir(plan.name)
    folder.mkdir(parents=True)
    (folder / SCHEMAS_FILE).write_text(files[gateway_code_dir(plan.name) + SCHEMAS_FILE])
    backend = StepFunctionsBackend("arn:aws:states:::stateMachine:params", gateway_config(plan),
                                   client=SimulatedStepFunctions(modes.machine), parameters=read_schemas(folder))
    server = serve_app_in_background(create_app(backend), port=0)
    try:
        yield server
    finally:
        server.stop()


BAD = [
    ({"limit": 0}, ["parameters", "limit"], "ranker"),
    ({"limit": "ten"}, ["parameters", "limit"], "ranker"),
    ({"limit": 1000}, ["parameters", "limit"], "ranker"),
    ({"limit": True}, ["parameters", "limit"], "ranker"),
    ({"window": {"start": -1}}, ["parameters", "window"], "ranker"),
    ({"ranker": {"limit": 0}}, ["parameters", "ranker", "limit"], "ranker"),  # nested under its name
    ({"typed": {"limit": 500}}, ["parameters", "typed", "limit"], "typed"),
]


def answers(modes: Modes, server: BackgroundServer, parameters: dict[str, Any]) -> list[tuple[int, Any]]:
    """Status and error (or docs' tags) over HTTP from the served Flow and the gateway function."""
    out = []
    for url in (modes.client.url, server.url):
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
            answer = http.post("/rank", json={"data": [{"id": "q"}], "parameters": parameters})
        body = answer.json()
        out.append((answer.status_code, body.get("error") or [d.get("tags") for d in body["data"]]))
    return out


@pytest.mark.parametrize(("parameters", "loc", "executor"), BAD)
def test_bad_parameters_are_refused_before_any_executor_runs(modes: Modes, gateway_function: BackgroundServer,
                                                             parameters: dict, loc: list, executor: str) -> None:
    CALLS.clear()
    served, deployed = answers(modes, gateway_function, parameters)
    assert served == deployed
    status, error = served
    assert status == 422 and error["reason"] == "bad_request"
    assert (error["executor"], error["endpoint"], error["type"], error["shard"]) == (executor, "/rank",
                                                                                 "ParameterError", None)
    assert error["errors"][0]["loc"] == loc and error["field"] == ".".join(loc[1:])
    with pytest.raises(FlowError) as embedded:
        modes.embedded.post("/rank", Document(id="q"), parameters=parameters)
    with pytest.raises(FlowError) as simulated:
        modes.machine.post("/rank", DocumentArray([Document(id="q")]), parameters)
    assert embedded.value.to_dict() == simulated.value.to_dict()
    assert {k: v for k, v in embedded.value.to_dict().items() if k != "bad_request"} == {
        k: v for k, v in error.items() if k in embedded.value.to_dict()}
    assert isinstance(embedded.value.cause, ParameterError) and embedded.value.cause.loc == loc
    assert CALLS == [], "no executor ran, not even the one before the executor that declares the model"


def test_the_message_says_what_was_expected_and_what_came(modes: Modes) -> None:
    with pytest.raises(FlowError) as info:
        modes.embedded.post("/rank", Document(id="q"), parameters={"limit": "ten"})
    assert str(info.value.cause) == "field 'limit': must be integer; got \"ten\""


def test_good_parameters_reach_executors_as_dict_or_as_the_model(modes: Modes,
                                                                 gateway_function: BackgroundServer) -> None:
    served, deployed = answers(modes, gateway_function, {"limit": 7, "order": "asc", "other": "kept"})
    assert served == deployed == (200, [{"limit_seen": 7, "typed": ["RankParams", 7, "asc"]}])
    [doc] = modes.embedded.post("/rank", Document(id="q"), parameters={"limit": 7, "typed": {"limit": 8}})
    assert doc.tags == {"limit_seen": 7, "typed": ["RankParams", 8, "desc"]}


def test_what_only_the_model_can_check_is_refused_by_the_executor_in_every_mode(
        modes: Modes, gateway_function: BackgroundServer) -> None:
    CALLS.clear()
    served, deployed = answers(modes, gateway_function, {"order": "sideways"})
    assert served == deployed
    status, error = served
    assert status == 422 and (error["executor"], error["shard"], error["field"]) == ("typed", 0, "order")
    assert error["type"] == "BadRequest" and error["message"] == "field 'order': Value error, order is asc or desc"
    assert CALLS.count("rank") == 2, "the executors before it ran (it is not a schema rule), once per mode"


def test_the_openapi_schema_shows_each_endpoints_models(modes: Modes, gateway_function: BackgroundServer) -> None:
    for url in (modes.client.url, gateway_function.url):
        schema = httpx.get(f"{url}/openapi.json", timeout=30, trust_env=False).json()
        body = schema["paths"]["/rank"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        refs = [part["$ref"] for part in body["allOf"][1]["properties"]["parameters"]["allOf"]]
        assert refs == ["#/components/schemas/Parameters_ranker__rank", "#/components/schemas/Parameters_typed__rank"]
        model = schema["components"]["schemas"]["Parameters_ranker__rank"]
        assert model["properties"]["limit"] == {"default": 10, "maximum": 100, "minimum": 1, "title": "Limit",
                                                "type": "integer"}
        window = model["properties"]["window"]["anyOf"][0]["$ref"]
        assert window == "#/components/schemas/Parameters_ranker__rank_Window"
        assert schema["components"]["schemas"]["Parameters_ranker__rank_Window"]["properties"]["start"]["minimum"] == 0
        other = schema["paths"]["/status"]
        assert "requestBody" not in other.get("get", {})


def test_the_client_raises_a_bad_input_error_and_does_not_retry(modes: Modes) -> None:
    CALLS.clear()
    with pytest.raises(GatewayBadInputError) as info:
        modes.client.post("/rank", Document(id="q"), parameters={"limit": -5}, max_attempts=3, backoff=0.0)
    assert info.value.status == 422 and info.value.field == "limit" and CALLS == []


# --- the built-in executors declare theirs ---

ISSUE_LIMITS = [-1, "abc", 1.5, True, 1e300, 2**63]


def test_vector_indexer_parameters_are_422_at_the_gateway(tmp_path: Path) -> None:
    port = free_port()
    flow = Flow(protocol="http", host="127.0.0.1", port=port, workspace=str(tmp_path)).add(
        uses=VectorIndexer, name="vi", shards=2, polling={"/search": "ALL", "/index": "ANY"})
    with flow:
        url = f"http://127.0.0.1:{port}"
        flow.post("/index", [Document(id=f"d{i}", embedding=np.full(3, i + 1.0)) for i in range(4)])
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
            for parameters in [*({"limit": v} for v in ISSUE_LIMITS), {"filter": 5}, {"metric": "nope"}]:
                answer = http.post("/search", json={"data": [{"embedding": [1, 2, 3]}], "parameters": parameters})
                error = answer.json()["error"]
                assert answer.status_code == 422, parameters
                assert error["executor"] == "vi" and error["errors"][0]["loc"] == ["parameters", *parameters]
            found = http.post("/search", json={"data": [{"embedding": [1, 2, 3]}], "parameters": {"limit": 2}})
            assert found.status_code == 200 and len(found.json()["data"][0]["matches"]) == 2


def test_functions_of_faasflows_executors_do_not_import_pydantic() -> None:
    """The models are named, not imported, so a cold start stays free of pydantic."""
    code = ("import sys; import faasflow.executors.vector_indexer, faasflow.runtime.handler; "
            "print('pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- declaring models wrongly ---


def test_a_model_that_cannot_be_imported_is_named_when_the_flow_starts() -> None:
    class Broken(Executor):
        @requests(on="/x", parameters="no.such.module:Params")
        def x(self, **kwargs: Any) -> None: ...

    with pytest.raises(FlowConfigError, match=r"executor 'broken' endpoint '/x': parameters model "
                                              r"'no.such.module:Params' cannot be imported"):
        with Flow().add(uses=Broken, name="broken"):
            pass


def test_a_model_that_is_not_a_pydantic_model_is_refused() -> None:
    class NotAModel(Executor):
        @requests(on="/x", parameters=dict)
        def x(self, **kwargs: Any) -> None: ...

    with pytest.raises(FlowConfigError, match="parameters= takes a pydantic model class"):
        with Flow().add(uses=NotAModel, name="nm"):
            pass


@pytest.mark.parametrize("option", ["request_schema", "response_schema"])
def test_docarray_v2_schemas_are_refused_not_ignored(option: str) -> None:
    with pytest.raises(TypeError, match=f"@requests\\({option}=...\\) is not supported"):
        requests(on="/x", **{option: DocumentArray})


def test_the_build_writes_the_schemas_beside_the_gateway(tmp_path: Path) -> None:
    plan = Flow(name="p").add(uses=Prepare, name="prep").add(uses=Rank, name="ranker").plan
    files = artefacts(plan, tmp_path).files
    written = json.loads(files["orchestrator/p.gateway/faasflow-parameters.json"])
    assert written == {"prep": {}, "ranker": {"/rank": RankParams.model_json_schema()}}
    template = files["template.yaml"]
    assert "CodeUri: orchestrator/p.gateway/" in template


class Shared(BaseModel):
    model_config = {"extra": "forbid"}
    limit: int = 1


class Strict(Executor):
    @requests(on="/rank", parameters=Shared)
    def rank(self, **kwargs: Any) -> None: ...


def test_parameters_nested_under_executor_names_are_not_fields_of_a_model() -> None:
    flow = Flow().add(uses=Strict, name="strict").add(uses=Rank, name="ranker")
    with flow:
        flow.post("/rank", Document(id="q"), parameters={"limit": 2, "ranker": {"limit": 5}, "strict": {"limit": 3}})
        with pytest.raises(FlowError, match=r"executor 'strict'.*must not contain {'other'} properties"):
            flow.post("/rank", Document(id="q"), parameters={"limit": 2, "other": 1})


class Stamped(BaseModel):
    since: datetime.datetime | None = None


class Timed(Executor):
    @requests(on="/rank")
    def rank(self, docs: DocumentArray, parameters: Stamped, **kwargs: Any) -> None:
        for doc in docs:
            doc.tags["since"] = parameters.since.isoformat() if parameters.since else None


def test_string_formats_are_left_to_the_model() -> None:
    """``format`` only annotates in JSON Schema: what pydantic parses, the edge lets through."""
    with Flow().add(uses=Timed, name="timed") as flow:
        [doc] = flow.post("/rank", Document(id="q"), parameters={"since": "2020-01-01"})
        assert doc.tags["since"] == "2020-01-01T00:00:00"
        with pytest.raises(FlowError) as info:
            flow.post("/rank", Document(id="q"), parameters={"since": "yesterday"})
        assert info.value.bad_request and info.value.field == "since"


class Unicode(BaseModel):
    name: str = Field("x", pattern=r"^\p{L}+$")  # pydantic's regex engine takes it; Python's re does not


class Lettered(Executor):
    @requests(on="/rank", parameters=Unicode)
    def rank(self, **kwargs: Any) -> None: ...


def test_a_schema_the_validator_cannot_compile_is_a_config_error_at_start() -> None:
    with pytest.raises(FlowConfigError, match=r"executor 'lettered' endpoint '/rank': its parameters model's "
                                              r"JSON Schema cannot be checked"):
        with Flow().add(uses=Lettered, name="lettered"):
            pass
