"""The gateway's happy path, over real HTTP: the example Flow indexed and queried, with the
same answers as the embedded engine; /status, OpenAPI, /docs and /metrics."""

from __future__ import annotations

import re
from pathlib import Path

from examples.sharded_search.corpus import sentences
from faasflow import Document, Flow, __version__
from tests.support.results import per_shard

ROOT = Path(__file__).resolve().parents[2]
CORPUS = [Document(id=f"line-{n}", text=text) for n, text in enumerate(sentences(300), start=1)]
QUERIES = [CORPUS[0].text, CORPUS[150].text, "a sailor remembers the frozen lake at midnight"]


def summary(docs: list) -> list[tuple[str, float]]:
    return [(d["id"], round(d["scores"]["jaccard"]["value"], 6)) for d in docs]


def test_index_then_query_answers_as_the_embedded_engine(search_server, http, tmp_path):
    client = http(search_server.url)
    body = {"data": [{"id": d.id, "text": d.text} for d in CORPUS]}
    indexed = client.post("/index", json=body)
    assert indexed.status_code == 200
    answer = indexed.json()
    assert [d["id"] for d in answer["data"]] == [d.id for d in CORPUS]
    assert answer["header"]["exec_endpoint"] == "/index"

    embedded = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
    embedded.workspace = str(tmp_path)
    with embedded:
        embedded.post("/index", CORPUS)
        for text in QUERIES:
            expected = embedded.post("/query", Document(text=text), parameters={"limit": 3})
            got = client.post("/query", json={"data": [{"text": text}], "parameters": {"limit": 3}})
            assert got.status_code == 200
            assert summary(got.json()["data"]) == summary(expected.to_list())
    count = client.post("/count").json()
    assert sum(shard["count"] for shard in per_shard(count["parameters"]["__results__"], "db")) == len(CORPUS)


def test_the_request_id_is_taken_from_the_caller_and_echoed(toy_server, http):
    answer = http(toy_server.url).post("/echo", json={"data": [{"text": "x"}]}, headers={"x-request-id": "abc-123"})
    assert answer.headers["x-request-id"] == "abc-123"
    assert answer.json()["header"] == {"request_id": "abc-123", "exec_endpoint": "/echo"}


def test_docs_come_back_in_input_order_across_shards(toy_server, http):
    ids = [f"doc-{n}" for n in range(40)]
    answer = http(toy_server.url).post("/echo", json={"data": [{"id": i} for i in ids]}).json()
    assert [d["id"] for d in answer["data"]] == ids
    assert {d["tags"]["shard"] for d in answer["data"]} == {0, 1}


def test_parameters_and_executor_results_come_back(toy_server, http):
    answer = http(toy_server.url).post("/count", json={"data": [{"id": "a"}], "parameters": {"k": 1}}).json()
    assert answer["parameters"]["k"] == 1
    shards = per_shard(answer["parameters"]["__results__"], "picky")
    assert shards == [{"docs": 1}]  # one doc: one shard


def test_an_empty_body_is_an_empty_request(toy_server, http):
    answer = http(toy_server.url).post("/echo")
    assert answer.status_code == 200
    assert answer.json()["data"] == []


def test_status_describes_the_flow(search_server, http):
    status = http(search_server.url).get("/status").json()
    assert status["name"] == "sharded-search"
    assert status["ready"] is True
    assert status["version"] == __version__
    assert status["backend"] == "embedded"
    db = next(e for e in status["executors"] if e["name"] == "db")
    assert db["shards"] == 3
    assert db["polling"]["/query"] == "ALL" and db["polling"]["/index"] == "ANY"
    assert db["needs"] == ["featurizer"]
    assert status["endpoints"] == ["/count", "/default", "/index", "/query"]


def test_openapi_has_a_real_schema_per_endpoint(search_server, http):
    client = http(search_server.url)
    schema = client.get("/openapi.json").json()
    for endpoint in ("/index", "/query", "/count"):
        operation = schema["paths"][endpoint]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        if endpoint == "/query":  # the reference app's executors declare their search parameters
            assert body["allOf"][0]["$ref"].endswith("/FlowRequest")
            models = [part["$ref"].rsplit("/", 1)[1] for part in body["allOf"][1]["properties"]["parameters"]["allOf"]]
            assert models == ["Parameters_db__query", "Parameters_ranker__query"]
            assert schema["components"]["schemas"]["Parameters_db__query"]["properties"]["limit"]["anyOf"][0] == {
                "type": "integer", "minimum": 0, "maximum": 2**31 - 1}
        else:
            assert body["$ref"].endswith("/FlowRequest")
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/FlowAnswer")
        assert {"404", "413", "422", "500"} <= set(operation["responses"])
    components = schema["components"]["schemas"]
    assert {"Document", "NDArray", "FlowRequest", "FlowAnswer", "ErrorAnswer", "FlowStatus"} <= set(components)
    assert "text" in components["Document"]["properties"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_metrics_count_requests_and_executors(toy_server, http):
    client = http(toy_server.url)
    client.post("/echo", json={"data": [{"text": "a"}]})
    client.post("/fail", json={"data": [{"text": "boom"}]})
    client.post("/nowhere", json={})
    text = client.get("/metrics").text

    def value(pattern: str) -> float:
        match = re.search(pattern + r" ([0-9.e+]+)", text)
        assert match, pattern
        return float(match.group(1))

    assert value(r'faasflow_requests_total\{endpoint="/echo",status="200"\}') >= 1
    assert value(r'faasflow_request_errors_total\{endpoint="/fail",reason="executor_failed"\}') >= 1
    assert value(r'faasflow_request_errors_total\{endpoint="\(unknown\)",reason="unknown_endpoint"\}') >= 1
    assert value(r'faasflow_request_duration_seconds_count\{endpoint="/echo"\}') >= 1
    assert value(r'faasflow_executor_calls_total\{endpoint="/echo",executor="picky"\}') >= 1
    assert value(r'faasflow_executor_errors_total\{endpoint="/fail",executor="picky"\}') >= 1
    assert value(r'faasflow_executor_duration_seconds_count\{endpoint="/echo",executor="picky"\}') >= 1
