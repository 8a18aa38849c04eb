"""The Client against real servers: the semantics of flow.post, its errors, its retries
against a server that fails on purpose, API keys and stage URLs."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from faasflow import Client, Document, DocumentArray, Executor, Flow, FlowError, UnknownEndpointError, requests
from faasflow.client import Backoff, GatewayBadInputError, GatewayError, GatewayFlowError, GatewayUnavailable
from faasflow.embedded import EmbeddedBackend
from faasflow.serve import create_app


class Scripted:
    """An ASGI wrapper that answers the first POSTs with scripted statuses, then lets the
    gateway answer; it records every request's path and headers."""

    def __init__(self, app: Any, statuses: list[int], retry_after: str | None = None):
        self.app = app
        self.statuses = list(statuses)
        self.retry_after = retry_after
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            self.seen.append((scope["method"], scope["path"], headers))
            if scope["method"] == "POST" and self.statuses:
                status = self.statuses.pop(0)
                extra = [(b"retry-after", self.retry_after.encode())] if self.retry_after else []
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"), *extra]})
                await send({"type": "http.response.body", "body": b'{"message": "failing on purpose"}'})
                return
        await self.app(scope, receive, send)

    @property
    def posts(self) -> int:
        return sum(1 for method, _, _ in self.seen if method == "POST")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def some_docs(count: int) -> list[Document]:
    return [Document(id=f"doc-{n}", text="boom" if n == 9 else f"text {n}") for n in range(count)]


def test_post_returns_docs_in_input_order_with_the_flows_batching(toy, serve):
    server = serve(toy)
    with Client(server.url) as client:
        batches: list[int] = []
        assert client.post("/echo", some_docs(25), request_size=7,
                           on_done=lambda r: batches.append(len(r.docs))) is None  # as Jina 3 with a callback
        got = client.post("/echo", some_docs(25), request_size=7)
    expected = toy.post("/echo", some_docs(25), request_size=7)
    assert isinstance(got, DocumentArray)
    assert got.ids == expected.ids == [f"doc-{n}" for n in range(25)]
    assert [d.tags["shard"] for d in got] == [d.tags["shard"] for d in expected]
    assert batches == [7, 7, 7, 4]


def test_callbacks_and_answers_match_flow_post(toy, serve):
    def record(post):
        events: list[tuple[str, Any]] = []
        returned = post("/fail", some_docs(20), request_size=5,
                        on_done=lambda r: events.append(("done", r.docs.ids)),
                        on_error=lambda r: events.append(("error", r.error.to_dict())),
                        on_always=lambda r: events.append(("always", r.header.exec_endpoint)))
        return returned, events

    with Client(serve(toy).url) as client:
        assert record(client.post) == record(toy.post)


def test_an_executor_failure_raises_a_flow_error_like_the_embedded_one(toy, serve):
    with Client(serve(toy).url) as client, pytest.raises(FlowError) as remote:
        client.post("/fail", some_docs(12))
    with pytest.raises(FlowError) as local:
        toy.post("/fail", some_docs(12))
    assert isinstance(remote.value, GatewayFlowError)
    assert remote.value.to_dict() == local.value.to_dict()
    assert str(remote.value) == str(local.value)
    assert remote.value.status == 500
    assert remote.value.body["error"]["reason"] == "executor_failed"


def test_unknown_endpoint_raises_unknown_endpoint_error(toy_server):
    with Client(toy_server.url) as client, pytest.raises(UnknownEndpointError) as caught:
        client.post("/nowhere", Document(text="x"))
    assert caught.value.served == ["/count", "/echo", "/fail"]
    assert caught.value.status == 404
    assert caught.value.body["error"]["reason"] == "unknown_endpoint"


def test_a_refused_request_raises_with_the_servers_body(toy, serve):
    with Client(serve(toy, max_body_bytes=300).url) as client, pytest.raises(GatewayBadInputError) as caught:
        client.post("/echo", Document(text="x" * 1000))
    assert caught.value.status == 413
    assert caught.value.detail["reason"] == "body_too_large"
    assert "300 bytes" in str(caught.value)


def test_unavailable_answers_are_retried_with_backoff(toy, serve):
    app = Scripted(create_app(EmbeddedBackend(toy)), [503, 502, 504])
    waits: list[int] = []
    with Client(serve(app).url) as client:
        got = client.post("/echo", some_docs(3), max_attempts=4, backoff=lambda attempt: waits.append(attempt) or 0)
    assert got.ids == ["doc-0", "doc-1", "doc-2"]
    assert app.posts == 4
    assert waits == [1, 2, 3]


def test_retries_stop_at_max_attempts_with_the_servers_body(toy, serve):
    app = Scripted(create_app(EmbeddedBackend(toy)), [503, 503, 503])
    with Client(serve(app).url) as client, pytest.raises(GatewayUnavailable) as caught:
        client.post("/echo", some_docs(1), max_attempts=2, backoff=0)
    assert app.posts == 2
    assert caught.value.status == 503
    assert caught.value.body == {"message": "failing on purpose"}


def test_429_waits_as_long_as_retry_after_says(toy, serve):
    app = Scripted(create_app(EmbeddedBackend(toy)), [429], retry_after="0.3")
    with Client(serve(app).url) as client:
        started = time.perf_counter()
        client.post("/echo", some_docs(1), max_attempts=2, backoff=0)
    assert time.perf_counter() - started >= 0.3
    assert app.posts == 2


def test_other_errors_are_never_retried(toy, serve):
    app = Scripted(create_app(EmbeddedBackend(toy)), [500, 500])
    with Client(serve(app).url) as client, pytest.raises(GatewayError) as caught:
        client.post("/echo", some_docs(1), max_attempts=3, backoff=0)
    assert app.posts == 1
    assert caught.value.status == 500
    with Client(serve(toy).url) as client, pytest.raises(FlowError):
        client.post("/fail", Document(text="boom"), max_attempts=3, backoff=0)


def test_connection_failures_are_retried_then_raised():
    waits: list[int] = []
    with Client(f"http://127.0.0.1:{free_port()}") as client, pytest.raises(GatewayUnavailable) as caught:
        client.post("/echo", some_docs(1), max_attempts=3, backoff=lambda attempt: waits.append(attempt) or 0)
    assert waits == [1, 2]
    assert "after 3 attempt(s)" in str(caught.value)
    assert not Client(f"http://127.0.0.1:{free_port()}").is_flow_ready()


def test_backoff_grows_and_is_capped():
    backoff = Backoff(initial=0.5, multiplier=2, maximum=3, jitter=0)
    assert [backoff(attempt) for attempt in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert 0.4 <= Backoff(initial=0.5, jitter=0.2)(1) <= 0.5


def test_a_stage_url_and_an_api_key_as_with_api_gateway(toy, serve):
    recorder = Scripted(Starlette(routes=[Mount("/prod", app=create_app(EmbeddedBackend(toy)))]), [])
    server = serve(recorder)
    with Client(f"{server.url}/prod", api_key="secret-key") as client:
        assert client.post("/echo", Document(id="x")).ids == ["x"]
        assert client.status()["name"] == "toy"
        assert client.is_flow_ready()
    assert [path for _, path, _ in recorder.seen] == ["/prod/echo", "/prod/status", "/prod/status"]
    assert all(headers["x-api-key"] == "secret-key" for _, _, headers in recorder.seen)


def test_jina_style_host_and_port(toy_server):
    client = Client(host="127.0.0.1", port=toy_server.port, protocol="http")
    assert client.url == toy_server.url
    assert client.post("/echo", Document(id="y")).ids == ["y"]
    with pytest.raises(Exception, match="HTTP"):
        Client(host="grpc://127.0.0.1:1234")


def test_a_progress_bar_on_long_posts(toy_server, capsys):
    with Client(toy_server.url) as client:
        client.post("/echo", some_docs(50), request_size=10, show_progress=True)
    assert "50/50" in capsys.readouterr().out


class Greeter(Executor):
    @requests
    def greet(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            doc.text = f"hello {doc.id}"


def test_flow_with_protocol_http_serves_until_closed():
    port = free_port()
    flow = Flow(name="served", protocol="http", port=port).add(uses=Greeter)
    with flow:
        blocking = threading.Thread(target=flow.block, daemon=True)
        blocking.start()
        with Client(f"http://127.0.0.1:{port}") as client:
            assert client.post("/anything", Document(id="z")).texts == ["hello z"]
            assert client.status()["name"] == "served"
    blocking.join(10)
    assert not blocking.is_alive()
