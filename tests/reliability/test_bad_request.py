"""An executor's ``faasflow.BadRequest`` is the caller's mistake, and reads as one in every
mode: embedded ``flow.post`` raises a FlowError naming executor, shard, doc and field;
served, the gateway answers 422 ``bad_request`` (not 500) and the Client raises an error
that is both a GatewayBadInputError and that FlowError; through the state machine, the
error envelope carries the same and the gateway function answers the same 422."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from faasflow import BadRequest, Client, Document, DocumentArray, Executor, Flow, FlowError, requests
from faasflow.client.errors import GatewayBadInputError, GatewayFlowError
from faasflow.compiler.decide import gateway_config
from faasflow.runtime.gateway import StepFunctionsBackend
from faasflow.serve import BackgroundServer, serve_app_in_background
from faasflow.serve.app import create_app
from tests.support.conformance import ExecutorCase, FlowCase, Modes, RequestCase, three_modes
from tests.support.simulate import SimulatedStepFunctions


class Checker(Executor):
    """Refuses a doc without text (the caller's mistake) and fails on ``boom`` (its own);
    ``parameters['only_shard']`` keeps the checks to one shard of a sharded stage."""

    calls = 0

    @requests(on="/check")
    def check(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> None:
        Checker.calls += 1
        only = parameters.get("only_shard")
        if only is not None and only != self.runtime_args.shard_id:
            return
        for doc in docs:
            if not doc.text:
                raise BadRequest("text must not be empty", doc_id=doc.id, field="text")
            if doc.text == "boom":
                raise ValueError(f"cannot take document {doc.id}")
            doc.tags["checked"] = True


@dataclass(frozen=True)
class CheckerCase(FlowCase):
    """A FlowCase whose executors are this module's."""

    def flow(self, module: str = __name__, name: str = "bad-request") -> Flow:
        return super().flow(module, name)


SINGLE = CheckerCase((ExecutorCase(name="checker", uses="Checker"),))
SHARDED = CheckerCase((ExecutorCase(name="prep", uses="Checker"),
                       ExecutorCase(name="wide", uses="Checker", shards=3, polling="ALL", needs=("prep",))))


def docs_with_empty(doc_id: str = "d1") -> DocumentArray:
    return DocumentArray([Document(id="d0", text="fine"), Document(id=doc_id, text=""), Document(id="d2", text="ok")])


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Modes]:
    with three_modes(SINGLE, tmp_path / "s3") as modes:
        yield modes


@pytest.fixture
def sharded(tmp_path: Path) -> Iterator[Modes]:
    with three_modes(SHARDED, tmp_path / "s3") as modes:
        yield modes


def refused(modes: Modes, request: RequestCase) -> dict[str, FlowError]:
    """The request's FlowError in each mode (it must fail in all three)."""
    errors: dict[str, FlowError] = {}
    for mode, call in (("embedded", lambda: modes.embedded.post(request.endpoint, request.copy_docs(),
                                                               parameters=request.parameters)),
                       ("served", lambda: modes.client.post(request.endpoint, request.copy_docs(),
                                                            parameters=request.parameters)),
                       ("simulated", lambda: modes.machine.post(request.endpoint, request.copy_docs(),
                                                                dict(request.parameters)))):
        with pytest.raises(FlowError) as info:
            call()
        errors[mode] = info.value
    return errors


# --- embedded ---


def test_embedded_post_raises_a_flow_error_naming_executor_doc_and_field(single: Modes) -> None:
    with pytest.raises(FlowError) as info:
        single.embedded.post("/check", docs_with_empty())
    error = info.value
    assert (error.executor, error.shard, error.endpoint, error.error_type) == ("checker", 0, "/check", "BadRequest")
    assert error.bad_request and (error.doc_id, error.field) == ("d1", "text")
    assert isinstance(error.cause, BadRequest) and error.cause.message == "text must not be empty"
    assert error.to_dict() == {"executor": "checker", "shard": 0, "endpoint": "/check", "type": "BadRequest",
                               "message": "document 'd1', field 'text': text must not be empty",
                               "bad_request": True, "doc_id": "d1", "field": "text"}


def test_embedded_on_error_gets_the_response_with_the_error(single: Modes) -> None:
    failed: list[Any] = []
    single.embedded.post("/check", docs_with_empty(), on_error=failed.append)
    [response] = failed
    assert response.error.bad_request and response.error.doc_id == "d1"
    exception = response.header.status.exception
    assert (exception.name, exception.doc_id, exception.field, exception.bad_request) == ("BadRequest", "d1",
                                                                                          "text", True)
    assert response.to_dict()["error"]["field"] == "text"


# --- served ---


def test_served_answers_422_with_the_fields(single: Modes) -> None:
    with httpx.Client(base_url=single.client.url, timeout=30, trust_env=False) as http:
        answer = http.post("/check", json={"data": [{"id": "d1", "text": ""}]})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["reason"] == "bad_request" and "traceback" not in error
    assert {k: error[k] for k in ("executor", "shard", "endpoint", "type", "doc_id", "field")} == {
        "executor": "checker", "shard": 0, "endpoint": "/check", "type": "BadRequest", "doc_id": "d1",
        "field": "text"}
    assert error["message"] == "document 'd1', field 'text': text must not be empty"
    assert error["detail"].startswith("executor 'checker' shard 0 failed on endpoint '/check': BadRequest")


def test_the_client_raises_an_error_that_is_both_a_4xx_and_a_flow_error(single: Modes) -> None:
    assert isinstance(single.client, Client)
    before = Checker.calls
    with pytest.raises(GatewayBadInputError) as info:
        single.client.post("/check", docs_with_empty(), max_attempts=3, backoff=0.0)
    error = info.value
    assert Checker.calls - before == 1, "a 422 is never retried"
    assert isinstance(error, FlowError) and isinstance(error, GatewayFlowError)
    assert error.status == 422 and error.bad_request
    assert (error.executor, error.shard, error.endpoint, error.error_type) == ("checker", 0, "/check", "BadRequest")
    assert (error.doc_id, error.field) == ("d1", "text")
    assert isinstance(error.cause, BadRequest) and error.cause.message == "text must not be empty"
    assert error.to_dict() == single.embedded.post("/check", docs_with_empty(), return_responses=True,
                                                   on_error=lambda r: None)[0].error.to_dict()


def test_an_ordinary_exception_still_answers_500(single: Modes) -> None:
    with httpx.Client(base_url=single.client.url, timeout=30, trust_env=False) as http:
        answer = http.post("/check", json={"data": [{"id": "b", "text": "boom"}]})
    assert answer.status_code == 500 and answer.json()["error"]["reason"] == "executor_failed"
    assert "doc_id" not in answer.json()["error"]
    with pytest.raises(GatewayFlowError) as info:
        single.client.post("/check", Document(id="b", text="boom"))
    assert not isinstance(info.value, GatewayBadInputError) and not info.value.bad_request
    with pytest.raises(FlowError) as embedded:
        single.embedded.post("/check", Document(id="b", text="boom"))
    assert not embedded.value.bad_request and embedded.value.doc_id is None
    assert "bad_request" not in embedded.value.to_dict()


# --- all three modes ---


def test_every_mode_gives_the_same_error(single: Modes) -> None:
    errors = refused(single, RequestCase("/check", docs_with_empty("x/1"), {}))
    dicts = {mode: error.to_dict() for mode, error in errors.items()}
    assert dicts["simulated"] == dicts["embedded"] == dicts["served"], dicts
    assert all(e.bad_request and e.doc_id == "x/1" and e.field == "text" for e in errors.values())


def test_one_shard_of_a_sharded_all_stage_is_named(sharded: Modes) -> None:
    request = RequestCase("/check", DocumentArray([Document(id="a", text="x"), Document(id="b", text="")]),
                          {"prep": {"only_shard": -1}, "wide": {"only_shard": 2}})
    errors = refused(sharded, request)
    for mode, error in errors.items():
        assert (error.executor, error.shard, error.doc_id, error.field) == ("wide", 2, "b", "text"), mode
        assert error.bad_request, mode
    assert errors["simulated"].to_dict() == errors["embedded"].to_dict() == errors["served"].to_dict()


# --- the gateway function on Step Functions ---


@pytest.fixture
def deployed(single: Modes) -> Iterator[BackgroundServer]:
    plan = single.embedded.plan
    backend = StepFunctionsBackend("arn:aws:states:::stateMachine:bad-request", gateway_config(plan),
                                   client=SimulatedStepFunctions(single.machine))
    server = serve_app_in_background(create_app(backend), port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("text", ["", "boom", "fine"])
def test_the_gateway_function_answers_as_the_served_gateway(single: Modes, deployed: BackgroundServer,
                                                            text: str) -> None:
    body = {"data": [{"id": "d1", "text": text}]}
    answers = []
    for url in (single.client.url, deployed.url):
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
            answer = http.post("/check", json=body)
        answers.append((answer.status_code, answer.json().get("error") or answer.json()["data"]))
    assert answers[0] == answers[1]
    assert answers[0][0] == {"": 422, "boom": 500, "fine": 200}[text]
