"""Throughput and limits under abuse: huge lines, stalled uploads, huge answers, long Retry-After."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from faasflow import Client, Document, DocumentArray, Executor, Flow, batch, requests
from faasflow.batch import LineTooLong, Split, parse_split, plan_splits, split_lines
from faasflow.client import GatewayUnavailable
from faasflow.embedded import EmbeddedBackend
from faasflow.serve import BackgroundServer, serve_app_in_background
from faasflow.serve.app import create_app

READ_SIZE = batch.READ_AHEAD

# name: (data, split bytes). Expected lines below were recorded from the splitter as it
# was before it learned to scan only new bytes; they must not change.
TRICKY: dict[str, tuple[bytes, int]] = {
    "no_trailing_newline": (b'{"a":1}\n{"b":2}', 5),
    "crlf": (b'{"a":1}\r\n{"b":2}\r\n\r\nx', 4),
    "empty_lines": (b"\n\n\nabc\n\n", 2),
    "boundary_inside_line": (b"aaaa\nbbbbbbbbbb\ncc\n", 7),
    "long_line": (b"x" * (READ_SIZE * 2 + 17) + b"\nshort\n" + b"y" * (READ_SIZE + 3), READ_SIZE // 2 + 5),
    "only_newline": (b"\n", 1),
    "empty": (b"", 1),
}
# (offset, length) of the lines of each split, in order
EXPECTED: dict[str, list[list[tuple[int, int]]]] = {
    "no_trailing_newline": [[(0, 7)], [(8, 7)], []],
    "crlf": [[(0, 8)], [], [(9, 8)], [], [(18, 1)], [(20, 1)]],
    "empty_lines": [[(0, 0), (1, 0)], [(2, 0), (3, 3)], [], [(7, 0)]],
    "boundary_inside_line": [[(0, 4), (5, 10)], [], [(16, 2)]],
    "long_line": [[(0, 131089)], [], [], [(131090, 5)], [(131096, 65539)], []],
    "only_newline": [[(0, 0)]],
    "empty": [],
}


def reader(data: bytes) -> Any:
    return lambda start, end: data[start:end]


@pytest.mark.parametrize("read_size", [3, 7, READ_SIZE])
@pytest.mark.parametrize("name", sorted(TRICKY))
def test_split_lines_output_is_unchanged(name: str, read_size: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(batch, "READ_AHEAD", read_size)
    data, split_bytes = TRICKY[name]
    got = []
    for split in plan_splits(len(data), split_bytes):
        lines = list(split_lines(reader(data), split, len(data)))
        assert all(isinstance(line, bytes) and data[o : o + len(line)] == line for o, line in lines)
        got.append([(o, len(line)) for o, line in lines])
    assert got == EXPECTED[name]


def test_one_huge_line_is_split_in_linear_time():
    data = b'{"text": "' + b"x" * (20 * 1024 * 1024) + b'"}\n{"text": "after"}\n'
    started = time.perf_counter()
    lines = list(split_lines(reader(data), Split(0, 0, len(data)), len(data)))
    elapsed = time.perf_counter() - started
    assert [(o, len(line)) for o, line in lines] == [(0, len(data) - 19), (len(data) - 18, 17)]
    assert elapsed < 3, f"a 20 MB line took {elapsed:.1f} s to split"


def test_a_line_over_the_limit_is_rejected_not_loaded():
    data = b'{"id": "a"}\n' + b'{"text": "' + b"x" * 5000 + b'"}\n{"id": "b"}\n' + b"y" * 3000
    reads: list[int] = []

    def read(start: int, end: int) -> bytes:
        reads.append(end - start)
        return data[start:end]

    lines = list(split_lines(read, Split(0, 0, len(data)), len(data), max_line_bytes=1000))
    assert [type(line) for _, line in lines] == [bytes, LineTooLong, bytes, LineTooLong]
    assert lines[1] == (12, LineTooLong(5012, 1000)) and lines[3][1].length == 3000
    report = parse_split(reader(data), Split(0, 0, len(data)), len(data), "docs.jsonl", max_line_bytes=1000)
    assert [d.id for d in report.docs] == ["a", "b"]
    assert [r["line"] for r in report.rejected] == [2, 4]
    assert "5012 bytes" in report.rejected[0]["reason"] and "1000" in report.rejected[0]["reason"]


def test_default_line_limit_is_32_mib():
    assert batch.MAX_LINE_BYTES == 32 * 1024 * 1024


# --- the HTTP gateway -------------------------------------------------------------------

class Echo(Executor):
    @requests(on="/grow")
    def grow(self, docs: DocumentArray, parameters: dict, **kwargs: Any) -> None:
        for doc in docs:
            doc.text = "x" * int(parameters.get("size", 10))


@pytest.fixture
def flow() -> Iterator[Flow]:
    with Flow(name="limits").add(uses=Echo, name="echo") as started:
        yield started


@contextmanager
def gateway(flow: Flow, **options: Any) -> Iterator[BackgroundServer]:
    server = serve_app_in_background(create_app(EmbeddedBackend(flow), **options), port=0)
    try:
        yield server
    finally:
        server.stop()


def _read_answer(sock: socket.socket) -> bytes:
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:  # the server closed the connection
            return received
        received += chunk


def test_a_stalled_body_is_answered_408_and_the_connection_closed(flow: Flow):
    with gateway(flow, body_timeout_s=1.0) as server:
        body = b'{"data": [{"text": "a"}]}'
        with socket.create_connection((server.host, server.port), timeout=15) as sock:
            sock.sendall(b"POST /grow HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
            started = time.monotonic()
            answer = _read_answer(sock)
            waited = time.monotonic() - started
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"connection: close" in head.lower()
        error = json.loads(payload)["error"]
        assert error["reason"] == "body_timeout" and error["timeout_s"] == 1.0
        assert 0.5 < waited < 10
        # the server goes on serving others
        answer = httpx.post(f"{server.url}/grow", json={"data": [{"text": "a"}]}, timeout=10, trust_env=False)
        assert answer.status_code == 200


def test_a_body_that_arrives_in_time_is_served(flow: Flow):
    with gateway(flow, body_timeout_s=1.0) as server:
        body = b'{"data": [{"text": "a"}], "parameters": {"size": 3}}'
        with socket.create_connection((server.host, server.port), timeout=15) as sock:
            sock.sendall(b"POST /grow HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
            time.sleep(0.3)
            sock.sendall(body[10:])
            answer = _read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_an_answer_over_the_limit_is_refused_with_422(flow: Flow):
    with gateway(flow, max_response_bytes=100_000) as server:
        url = f"{server.url}/grow"
        small = httpx.post(url, json={"data": [{"text": "a"}], "parameters": {"size": 1000}}, trust_env=False)
        assert small.status_code == 200
        big = httpx.post(url, json={"data": [{"text": "a"}] * 3, "parameters": {"size": 50_000}}, trust_env=False)
        assert big.status_code == 422, big.text
        error = big.json()["error"]
        assert error["reason"] == "response_too_large" and error["limit_bytes"] == 100_000
        assert error["size_bytes"] > 150_000 and "request_size" in error["detail"]
        assert big.headers["x-request-id"] == big.json()["header"]["request_id"]


# --- the Client and Retry-After -----------------------------------------------------------

class Busy:
    """An ASGI app that answers every request 429 with the given Retry-After, counting them."""

    def __init__(self, retry_after: str):
        self.retry_after = retry_after
        self.calls = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.calls += 1
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", self.retry_after.encode())]})
        await send({"type": "http.response.body", "body": b'{"message": "slow down"}'})


def test_a_retry_after_over_the_cap_raises_at_once_instead_of_retrying_early():
    app = Busy("3600")
    with serve_app_in_background(app, port=0) as server, Client(server.url) as client:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as caught:
            client.post("/echo", DocumentArray([Document(text="a")]), max_attempts=3, backoff=0)
    assert time.monotonic() - started < 5 and app.calls == 1
    assert caught.value.status == 429
    assert "3600 s" in str(caught.value) and "max_retry_after=60 s" in str(caught.value)


def test_a_retry_after_under_the_cap_is_honoured():
    app = Busy("0.3")
    with serve_app_in_background(app, port=0) as server, Client(server.url, max_retry_after=1) as client:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as caught:
            client.post("/echo", DocumentArray([Document(text="a")]), max_attempts=2, backoff=0)
    assert time.monotonic() - started >= 0.3 and app.calls == 2
    assert "2 time(s)" in str(caught.value)
