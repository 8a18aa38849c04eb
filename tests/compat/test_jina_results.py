"""Jina 3's executor results and per-executor parameters, in every mode (embedded, served,
simulated): a dict an executor returns is under ``parameters['__results__']`` keyed by its
runtime name (``name/rep-0``, ``name/shard-<i>/rep-0``); a parameter ``name__key`` reaches
only the executor ``name``, as ``key``; ``{'name': {...}}`` still works, and wins."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from faasflow import Document, DocumentArray, Executor, Flow, FlowError, requests
from faasflow.stage import executor_parameters, specific_key
from tests.support.deployed_gateway import open_any


class Received(Executor):
    @requests
    def process(self, docs, parameters, **kwargs):
        return {"received_parameters": {k: v for k, v in parameters.items() if k != "__results__"}}


class Status(Executor):
    @requests
    def status(self, docs, **kwargs):
        for doc in docs:
            doc.text = "exec-status"
        return {"shard_id": self.runtime_args.shard_id, "happy_status": "Hey there! Have a nice day :)"}


def results_of(run_flow, flow, parameters=None, on="/index"):
    (response,) = run_flow(flow, on, DocumentArray(Document() for _ in range(5)), parameters=parameters,
                           return_responses=True)
    return response.parameters


def test_specific_params(run_flow):
    flow = Flow().add(uses=Received, name="exec1").add(uses=Received, name="exec2")
    answer = results_of(run_flow, flow, {"key_1": True, "exec2__key_2": False})
    results = answer["__results__"]
    assert set(results) == {"exec1/rep-0", "exec2/rep-0"}
    assert results["exec1/rep-0"]["received_parameters"] == {"key_1": True}
    assert results["exec2/rep-0"]["received_parameters"] == {"key_1": True, "key_2": False}
    assert answer["exec2__key_2"] is False  # the request's parameters come back as sent


def test_specific_params_in_a_branched_flow(run_flow):
    flow = (Flow().add(uses=Received, name="Text1Encoder")
            .add(uses=Received, name="Text2Encoder", needs="gateway")
            .add(uses=Received, name="Combiner", needs=["Text1Encoder", "Text2Encoder"]))
    results = results_of(run_flow, flow, {
        "Text1Encoder__access_path": "@.[text1]", "Text2Encoder__access_path": "@.[text2]",
        "Combiner__text1_access_path": "@.[text1]", "Combiner__text2_access_path": "@.[text2]"})["__results__"]
    assert results["Text1Encoder/rep-0"]["received_parameters"] == {"access_path": "@.[text1]"}
    assert results["Text2Encoder/rep-0"]["received_parameters"] == {"access_path": "@.[text2]"}
    assert results["Combiner/rep-0"]["received_parameters"] == {
        "text1_access_path": "@.[text1]", "text2_access_path": "@.[text2]"}


def test_the_nested_form_still_works_and_wins(run_flow):
    flow = Flow().add(uses=Received, name="exec1").add(uses=Received, name="exec2")
    results = results_of(run_flow, flow, {"limit": 1, "exec1__limit": 2, "exec1": {"limit": 3, "x": 1}})["__results__"]
    assert results["exec1/rep-0"]["received_parameters"] == {"limit": 3, "x": 1, "exec1": {"limit": 3, "x": 1}}
    assert results["exec2/rep-0"]["received_parameters"] == {"limit": 1, "exec1": {"limit": 3, "x": 1}}


def test_reduce_status_keys_each_shard_by_its_runtime_name(run_flow):
    flow = Flow().add(uses=Status, name="pod0", shards=2, polling="all")
    answer = results_of(run_flow, flow, {"foo": "bar"}, on="/shard-status")  # Jina's /status: served answers GET
    assert answer["foo"] == "bar"
    assert sorted(answer["__results__"]) == ["pod0/shard-0/rep-0", "pod0/shard-1/rep-0"]
    for key, result in answer["__results__"].items():
        assert result["shard_id"] == int(key.split("/")[1].removeprefix("shard-"))
        assert result["happy_status"] == "Hey there! Have a nice day :)"


def test_jinas_key_splitting_rule():
    assert specific_key("exec1__limit") == ("exec1", "limit")
    assert specific_key("a__b__c") == ("ab", "c")  # the last part is the key, the rest the executor
    assert specific_key("__results__") is None and specific_key("x__") is None and specific_key("limit") is None
    assert executor_parameters({"__results__": {}, "db__k": 1, "other__k": 2}, "db") == {"__results__": {}, "k": 1}
    # a uses_after sees what its executor sees
    assert executor_parameters({"db__k": 1}, "db/uses-after") == {"k": 1}


class Limit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = 10


class Declares(Executor):
    @requests(on="/rank", parameters=Limit)
    def rank(self, docs, parameters, **kwargs):
        for doc in docs:
            doc.tags[self.runtime_args.name] = parameters.get("limit")


def test_a_declared_model_sees_the_specific_keys_as_its_executor_does(run_flow):
    flow = Flow().add(uses=Declares, name="first").add(uses=Declares, name="second")
    out = run_flow(flow, "/rank", Document(id="q"), parameters={"first__limit": 3})
    assert out[0].tags == {"first": 3, "second": None}  # 'first__limit' is no field of second's model
    with pytest.raises(FlowError) as info:
        run_flow(flow, "/rank", Document(id="q"), parameters={"second__limit": "many"})
    assert info.value.executor == "second"
    assert "second__limit" in str(info.value)


# --- later executors see the results of those upstream of them, as in Jina ---


class Echo(Executor):
    @requests
    def process(self, docs, parameters, **kwargs):
        return {"received_parameters": parameters}


class SeenResults(Executor):
    """Returns which results it found in ``parameters['__results__']`` (None: no such key)."""

    @requests
    def process(self, docs, parameters, **kwargs):
        seen = parameters.get("__results__")
        return {"seen": None if seen is None else sorted(seen)}


def test_a_later_executor_reads_the_earlier_ones_results(run_flow):
    flow = Flow().add(uses=Echo, name="exec1").add(uses=Echo, name="exec2")  # Jina's test_specific_params
    results = results_of(run_flow, flow, {"key_1": True, "exec2__key_2": False})["__results__"]
    assert results["exec1/rep-0"]["received_parameters"] == {"key_1": True}  # nothing upstream: no key
    received = dict(results["exec2/rep-0"]["received_parameters"])
    assert received.pop("__results__") == {"exec1/rep-0": {"received_parameters": {"key_1": True}}}
    assert received == {"key_1": True, "key_2": False}


def test_results_follow_the_path_not_parallel_branches(run_flow):
    flow = (Flow().add(uses=SeenResults, name="a").add(uses=SeenResults, name="b")
            .add(uses=SeenResults, name="c", needs="gateway")
            .add(uses=SeenResults, name="j", needs=["b", "c"]))
    results = results_of(run_flow, flow)["__results__"]
    assert {k: v["seen"] for k, v in results.items()} == {
        "a/rep-0": None, "b/rep-0": ["a/rep-0"], "c/rep-0": None,  # c runs beside a and b: sees neither
        "j/rep-0": ["a/rep-0", "b/rep-0", "c/rep-0"]}  # a join: every path that leads to it


def test_a_sharded_stage_sees_its_uses_before_and_its_uses_after_every_shard(run_flow):
    flow = (Flow().add(uses=SeenResults, name="a")
            .add(uses=SeenResults, name="db", shards=2, polling="ALL", uses_before=SeenResults,
                 uses_after=SeenResults)
            .add(uses=SeenResults, name="z"))
    seen = {k: v["seen"] for k, v in results_of(run_flow, flow, on="/search")["__results__"].items()}
    assert seen["db/uses_before-0"] == ["a/rep-0"]
    assert seen["db/shard-0/rep-0"] == seen["db/shard-1/rep-0"] == ["a/rep-0", "db/uses_before-0"]
    assert seen["db/uses_after-0"] == ["a/rep-0", "db/shard-0/rep-0", "db/shard-1/rep-0", "db/uses_before-0"]
    assert seen["z/rep-0"] == sorted(k for k in seen if k != "z/rep-0")


def test_an_untargeted_executor_passes_the_results_on(flow_mode, tmp_path):
    flow = Flow().add(uses=SeenResults, name="a").add(uses=SeenResults, name="b").add(uses=SeenResults, name="c")
    with open_any(flow, flow_mode, tmp_path) as poster:  # target_executor: a Client in the deployed mode
        (response,) = poster.post("/index", DocumentArray(Document() for _ in range(2)),
                                  target_executor="(a|c)", return_responses=True)
    assert {k: v["seen"] for k, v in response.parameters["__results__"].items()} == {
        "a/rep-0": None, "c/rep-0": ["a/rep-0"]}


class StrictLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = 1


class Strict(Executor):
    """Takes its parameters as a model that forbids unknown fields."""

    @requests
    def take(self, docs, parameters: StrictLimit, **kwargs):
        for doc in docs:
            doc.tags["limit"] = parameters.limit


def test_a_strict_parameter_model_after_an_executor_that_returns_results(run_flow):
    # the upstream results ride in the parameters; they are not the caller's, so a model that
    # forbids extra fields takes the request without them
    flow = Flow().add(uses=Status, name="counts").add(uses=Strict, name="strict")
    out = run_flow(flow, "/index", DocumentArray([Document()]), parameters={"limit": 3})
    assert out[0].tags["limit"] == 3
