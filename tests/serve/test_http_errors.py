"""Every error the gateway answers: JSON with its status, a reason, the request id; never a
bare traceback (unless debug is on)."""

from __future__ import annotations

import httpx
import pytest

REQUEST_ID = "req-42"


def error_of(answer: httpx.Response, status: int, reason: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["error"]["status"] == status
    assert body["error"]["reason"] == reason
    assert body["header"]["request_id"] == answer.headers["x-request-id"]
    assert "Traceback" not in answer.text
    return body


def post(client: httpx.Client, path: str, **kwargs) -> httpx.Response:
    return client.post(path, headers={"x-request-id": REQUEST_ID, **kwargs.pop("headers", {})}, **kwargs)


@pytest.mark.parametrize(("content", "where", "says"), [
    (b"{not json", ["body"], "malformed JSON"),
    (b"[1, 2]", ["body"], "must be a JSON object"),
    (b'{"data": {"text": "x"}}', ["body", "data"], "must be a list"),
    (b'{"parameters": [1]}', ["body", "parameters"], "must be an object"),
    (b'{"data": [{"text": 5}]}', ["body", "data", 0], "field 'text' must be str"),
    (b'{"data": [{"id": "a"}, {"id": "b", "colour": "red"}]}', ["body", "data", 1], "unknown field(s): colour"),
    (b'{"data": [{"embedding": {"dtype": "<f4", "shape": [2], "data": "!!"}}]}', ["body", "data", 0], "embedding"),
    (b'{"data": [], "target": 1}', ["body", "target"], "unknown field"),
    (b'{"data": [{"tensor": [[1, 2], [3]]}]}', ["body", "data", 0], "tensor"),
    (b'{"data": [{"text": "\xff"}]}', ["body"], "malformed JSON"),
    (b'{"data": [{"id": "deep", "tags": ' + b'{"a": ' * 200 + b'1' + b'}' * 200 + b'}]}', ["body", "data", 0],
     "nested deeper than 128 levels"),
    (b'{"data": [{"id": "m", ' + b'"matches": [{' * 20 + b'"id": "x"' + b'}]' * 20 + b'}]}', ["body", "data", 0],
     "document 'm': matches or chunks nested deeper than 16 levels"),
    (b'{"parameters": ' + b'{"p": ' * 300 + b'1' + b'}' * 300 + b'}', ["body", "parameters"],
     "nested deeper than 128 levels"),
])
def test_malformed_requests_are_422_naming_the_field(toy_server, http, content, where, says):
    body = error_of(post(http(toy_server.url), "/echo", content=content), 422, "invalid_request")
    problem = body["error"]["errors"][0]
    assert problem["loc"] == where
    assert says in problem["msg"]
    assert says in body["error"]["detail"]
    assert body["header"] == {"request_id": REQUEST_ID, "exec_endpoint": "/echo"}


def test_every_problem_is_listed(toy_server, http):
    body = error_of(post(http(toy_server.url), "/echo", json={"data": [{"text": 1}, "x", {"id": "ok"}, {"uri": []}]}),
                    422, "invalid_request")
    locations = [p["loc"] for p in body["error"]["errors"]]
    assert locations == [["body", "data", 0], ["body", "data", 1], ["body", "data", 3]]
    assert body["error"]["error_count"] == 3


def test_unknown_endpoint_is_404_listing_the_served_ones(toy_server, http):
    body = error_of(post(http(toy_server.url), "/nowhere", json={"data": []}), 404, "unknown_endpoint")
    assert body["error"]["served"] == ["/count", "/echo", "/fail"]
    assert body["error"]["endpoint"] == "/nowhere"
    assert "/echo" in body["error"]["detail"]
    assert body["header"]["request_id"] == REQUEST_ID


def test_unknown_endpoint_is_answered_before_the_body_is_read(toy_server, http):
    error_of(post(http(toy_server.url), "/a/b/c", content=b"{broken"), 404, "unknown_endpoint")


def test_a_body_over_the_limit_is_413(toy, serve, http):
    client = http(serve(toy, max_body_bytes=200).url)
    small = post(client, "/echo", json={"data": [{"text": "fits"}]})
    assert small.status_code == 200
    body = error_of(post(client, "/echo", json={"data": [{"text": "x" * 500}]}), 413, "body_too_large")
    assert body["error"]["limit_bytes"] == 200


def test_a_streamed_body_without_length_is_cut_at_the_limit(toy, serve, http):
    client = http(serve(toy, max_body_bytes=200).url)

    def chunks():
        yield b'{"data": [{"text": "'
        for _ in range(50):
            yield b"x" * 20
        yield b'"}]}'

    error_of(post(client, "/echo", content=chunks()), 413, "body_too_large")


def test_an_executor_that_raises_is_500_naming_executor_shard_endpoint(toy_server, http):
    docs = [{"id": f"d{n}", "text": "fine"} for n in range(6)] + [{"id": "bad", "text": "boom"}]
    body = error_of(post(http(toy_server.url), "/fail", json={"data": docs}), 500, "executor_failed")
    error = body["error"]
    assert error["executor"] == "picky"
    assert error["shard"] in (0, 1)
    assert error["endpoint"] == "/fail"
    assert error["type"] == "ValueError"
    assert error["message"] == "cannot take document bad"
    assert "traceback" not in error
    assert error["detail"] == f"executor 'picky' shard {error['shard']} failed on endpoint '/fail': " \
                              "ValueError: cannot take document bad"
    assert body["header"] == {"request_id": REQUEST_ID, "exec_endpoint": "/fail"}


def test_debug_puts_the_executors_stack_in_the_answer(toy, serve, http):
    answer = post(http(serve(toy, debug=True).url), "/fail", json={"data": [{"text": "boom"}]})
    assert answer.status_code == 500
    trace = answer.json()["error"]["traceback"]
    assert "Traceback" in trace and "raise ValueError" in trace


def test_other_paths_and_methods_answer_json_too(toy_server, http):
    client = http(toy_server.url)
    error_of(client.get("/nothing-here"), 405, "method_not_allowed")  # any path takes a POST
    error_of(client.get("/echo"), 405, "method_not_allowed")
    error_of(client.delete("/status"), 405, "method_not_allowed")
    answer = client.post("/status")
    error_of(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == "GET"


def test_a_bad_request_id_is_replaced(toy_server, http):
    answer = http(toy_server.url).post("/echo", headers={"x-request-id": "no spaces please"})
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] != "no spaces please"
    assert answer.json()["header"]["request_id"] == answer.headers["x-request-id"]


def test_the_deepest_accepted_document_is_answered(toy_server, http):
    """One nesting limit, chosen so that whatever is accepted can be written back."""
    tags = b'{"a": ' * 127 + b'1' + b'}' * 127
    doc = b'{"id": "m", ' + b'"matches": [{' * 16 + b'"id": "x", "tags": ' + tags + b'}]' * 16 + b'}'
    answer = post(http(toy_server.url), "/echo", content=b'{"data": [' + doc + b'], "parameters": ' + tags + b'}')
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"][0]["id"] == "m"
