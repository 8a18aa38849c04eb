"""The reference app deployed with `sam deploy` answers like the embedded engine.

Runs against the session's MiniStack always; against a real LocalStack too when
FAASFLOW_TEST_ENDPOINT is set (see ``deployment`` below).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from examples.common import load_corpus
from examples.sharded_search.__main__ import FLOW_YAML
from examples.sharded_search.corpus import write_corpus
from faasflow import Client, Document, DocumentArray, Flow
from faasflow.client import GatewayBadRequestError
from faasflow.deploy.layers import write
from faasflow.deploy.sam import deploy
from faasflow.serve.schema import FlowStatus
from faasflow.testing import MiniStack
from tests.support.results import per_shard
from tests.support.side_by_side import deployed_with, embedded_with

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]
STACK = "faasflow-reference"


def dicts(docs: DocumentArray) -> list[dict]:
    return [d.to_dict() for d in docs]


@pytest.fixture(scope="module")
def deployment(ministack: MiniStack) -> Iterator[dict]:
    """The reference app, built from orchestrator/flow.yml and deployed on a reset emulator."""
    ministack.reset()
    write(Flow.load_config(FLOW_YAML).plan, ROOT)
    outputs = deploy(ROOT, STACK, endpoint_url=ministack.endpoint)
    yield outputs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> DocumentArray:
    return load_corpus(write_corpus(tmp_path_factory.mktemp("corpus") / "c.txt", 300))


@pytest.fixture(scope="module")
def embedded(corpus: DocumentArray, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    yield from embedded_with(FLOW_YAML, corpus, tmp_path_factory.mktemp("embedded"), request_size=100)


@pytest.fixture(scope="module")
def indexed(deployment: dict, corpus: DocumentArray) -> Client:
    return deployed_with(deployment["ApiUrlLocal"], corpus, request_size=100, timeout=120)


QUERIES = (0, 7, 150, 299)


def test_status_over_api_gateway(deployment: dict):
    status = httpx.get(f"{deployment['ApiUrlLocal']}/status", timeout=60).json()
    assert status["name"] == "sharded-search" and status["backend"] == "stepfunctions" and status["ready"]
    assert [e["name"] for e in status["executors"]] == ["featurizer", "db", "ranker"]
    FlowStatus.model_validate(status)  # the same shape as the local gateway's, as its OpenAPI schema says
    assert status["executors"][1]["uses"] == "functions.doc_store.DocStore" and status["answer"] == ["ranker"]


def test_index_then_query_conforms_to_the_embedded_engine(indexed: Client, embedded: Flow, corpus: DocumentArray):
    for position in QUERIES:
        query = Document(id=f"q{position}", text=corpus[position].text)
        remote = indexed.post("/query", query)
        local = embedded.post("/query", query)
        assert dicts(remote) == dicts(local)
        assert remote[0].id == corpus[position].id and remote[0].scores["jaccard"].value == 0
    remote_counts = indexed.post("/count", return_responses=True)[0].parameters["__results__"]
    assert remote_counts == embedded.post("/count", return_responses=True)[0].parameters["__results__"]


def test_large_requests_travel_by_reference(indexed: Client, deployment: dict, ministack: MiniStack):
    # each /index batch of 100 featurized docs is over the inline limit: it went through S3
    s3 = ministack.client("s3")
    payloads = s3.list_objects_v2(Bucket=deployment["BucketName"], Prefix="payloads/").get("KeyCount", 0)
    assert payloads > 0
    big = DocumentArray(Document(id=f"big{i}", text="word " * 2000) for i in range(40))  # ~400 KB of text
    answer = indexed.post("/other-endpoint", big, request_size=40)  # the featurizer's default method serves it
    assert answer.ids == big.ids and all(d.embedding is not None for d in answer)


def test_state_survives_fresh_containers(
    indexed: Client, embedded: Flow, corpus: DocumentArray, deployment: dict, ministack: MiniStack
):
    lam = ministack.client("lambda")
    for shard in range(3):
        name = deployment[f"DbShard{shard}FunctionName"]
        env = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        env["FAASFLOW_FORCE_COLD"] = str(time.time())  # a configuration change starts fresh containers
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": env})
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    query = Document(id="again", text=corpus[42].text)
    assert dicts(indexed.post("/query", query)) == dicts(embedded.post("/query", query))


def test_a_callers_mistake_is_a_422_naming_the_executor_and_the_stack_stays_usable(indexed: Client,
                                                                                   corpus: DocumentArray):
    with pytest.raises(GatewayBadRequestError) as info:
        indexed.post("/query", Document(text="x"), parameters={"limit": "many"})
    error = info.value  # refused by the gateway function, from the schemas the build wrote: no shard ran
    assert error.executor == "db" and error.endpoint == "/query" and error.shard is None
    assert (error.error_type, error.field) == ("ParameterError", "limit")
    raw = httpx.post(
        f"{indexed.url}/query", json={"data": [{"text": "x"}], "parameters": {"limit": "many"}}, timeout=60
    )
    assert raw.status_code == 422 and raw.json()["error"]["reason"] == "bad_request"
    assert (raw.json()["error"]["executor"], raw.json()["error"]["field"]) == ("db", "limit")
    assert raw.json()["error"]["errors"][0]["loc"] == ["parameters", "limit"]
    schema = httpx.get(f"{indexed.url}/openapi.json", timeout=60).json()
    assert "Parameters_db__query" in schema["components"]["schemas"]
    assert indexed.post("/query", Document(text=corpus[3].text))[0].id == corpus[3].id


def test_unknown_endpoint_is_a_404_listing_served_ones(deployment: dict):
    # every endpoint is served here (the featurizer has a default method): a GET is the way to miss
    answer = httpx.get(f"{deployment['ApiUrlLocal']}/nope", timeout=60)
    assert answer.status_code in (403, 404, 405)


@pytest.mark.skipif(
    not os.environ.get("FAASFLOW_TEST_ENDPOINT"),
    reason="set FAASFLOW_TEST_ENDPOINT to a LocalStack endpoint to run against it too",
)
def test_reference_app_on_an_external_localstack(corpus: DocumentArray, embedded: Flow):
    endpoint = os.environ["FAASFLOW_TEST_ENDPOINT"]
    outputs = deploy(ROOT, STACK, endpoint_url=endpoint)
    client = Client(outputs["ApiUrlLocal"], timeout=120)
    client.post("/index", corpus, request_size=100)
    query = Document(id="q", text=corpus[5].text)
    assert dicts(client.post("/query", query)) == dicts(embedded.post("/query", query))


def test_generated_template_passes_sam_validate_lint(emulator_tools: None):
    from faasflow.deploy.sam import validate

    write(Flow.load_config(FLOW_YAML).plan, ROOT)
    output = validate(ROOT)
    assert "is a valid SAM Template" in output and "W" not in {line[:1] for line in output.splitlines()}


def _batch_lines(texts: list[str], bad: dict[int, str]) -> bytes:
    lines = [bad.get(n) or json.dumps({"id": f"batch-{n}", "text": text}) for n, text in enumerate(texts, start=1)]
    return ("\n".join(lines) + "\n").encode()


def _wait_for_summary(s3, bucket: str, key: str, timeout_s: float = 400) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            time.sleep(1)
    raise AssertionError(f"no summary at {key} after {timeout_s} s")


def test_batch_indexing_of_an_uploaded_jsonl(indexed: Client, deployment: dict, ministack: MiniStack):
    s3, sfn = ministack.client("s3"), ministack.client("stepfunctions")
    bucket = deployment["BucketName"]
    bad = {17: "{not json", 2500: json.dumps(["not", "an", "object"]), 4999: json.dumps({"id": "x", "tags": "no"})}
    from examples.sharded_search.corpus import sentences

    texts = list(sentences(5000, seed=11))
    body = _batch_lines(texts, bad)
    count_before = sum(
        c["count"] for c in per_shard(indexed.post("/count", return_responses=True)[0].parameters["__results__"], "db")
    )
    s3.put_object(Bucket=bucket, Key="incoming/docs.jsonl", Body=body)
    summary = _wait_for_summary(s3, bucket, "summaries/docs.jsonl.summary.json")
    assert summary["lines"] == 5000 and summary["docs_indexed"] == 4997 and summary["failed_splits"] == []
    assert [r["line"] for r in summary["rejected"]] == [17, 2500, 4999]
    found = indexed.post("/query", Document(text=texts[1233]))
    assert found[0].text == texts[1233] and found[0].scores["jaccard"].value == 0
    counts = per_shard(indexed.post("/count", return_responses=True)[0].parameters["__results__"], "db")
    assert sum(c["count"] for c in counts) == count_before + 4997
    runs = sfn.list_executions(stateMachineArn=deployment["BatchStateMachineArn"])["executions"]
    assert len(runs) == 1 and runs[0]["status"] == "SUCCEEDED"
    # the same object again: the ingest function sees it (it rewrites the run's split plan),
    # starts no second run, and the count stays
    run = runs[0]["name"]
    plan_key = f"runs/{run}/splits.jsonl"
    planned = s3.head_object(Bucket=bucket, Key=plan_key)["LastModified"]
    time.sleep(1.1)  # a later LastModified second
    s3.put_object(Bucket=bucket, Key="incoming/docs.jsonl", Body=body)
    deadline = time.time() + 60
    while s3.head_object(Bucket=bucket, Key=plan_key)["LastModified"] == planned:
        assert time.time() < deadline, "the ingest function did not see the second upload"
        time.sleep(0.5)
    time.sleep(2)
    runs = sfn.list_executions(stateMachineArn=deployment["BatchStateMachineArn"])["executions"]
    assert len(runs) == 1
    from faasflow.commands.status import recent_runs

    shown = recent_runs(STACK, ministack.endpoint, "us-east-1", 10)
    assert shown[0]["docs_indexed"] == 4997 and shown[0]["rejected"] == 3 and shown[0]["status"] == "SUCCEEDED"
    counts = per_shard(indexed.post("/count", return_responses=True)[0].parameters["__results__"], "db")
    assert sum(c["count"] for c in counts) == count_before + 4997
