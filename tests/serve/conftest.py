"""Real servers for the HTTP tests: uvicorn on a free port of 127.0.0.1, on a thread of the
test process, stopped when the test (or module) is done."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from faasflow import DocumentArray, Executor, Flow, requests
from faasflow.embedded import EmbeddedBackend
from faasflow.serve import BackgroundServer, serve_app_in_background, start_background_server

ROOT = Path(__file__).resolve().parents[2]
SEARCH_FLOW = ROOT / "orchestrator" / "flow.yml"


class Picky(Executor):
    """Tags each doc with its shard; fails on demand, so errors name a real executor and shard."""

    @requests(on="/echo")
    def echo(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            doc.tags["shard"] = self.runtime_args.shard_id

    @requests(on="/fail")
    def fail(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            if doc.text == "boom":
                raise ValueError(f"cannot take document {doc.id}")

    @requests(on="/count")
    def count(self, docs: DocumentArray, **kwargs: Any) -> dict:
        return {"docs": len(docs)}


def toy_flow() -> Flow:
    return Flow(name="toy").add(uses=Picky, name="picky", shards=2)


@contextmanager
def serving(source: Any, **app_options: Any) -> Iterator[BackgroundServer]:
    """A started Flow's gateway (or any ASGI app) on a free port, for the block's duration."""
    if isinstance(source, Flow):
        server = start_background_server(EmbeddedBackend(source), port=0, **app_options)
    else:
        server = serve_app_in_background(source, port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def serve() -> Iterator[Callable[..., BackgroundServer]]:
    """``serve(flow_or_app, **app_options)``: a server for this test, stopped after it."""
    with ExitStack() as stack:
        yield lambda source, **options: stack.enter_context(serving(source, **options))


@pytest.fixture
def toy() -> Iterator[Flow]:
    """A started toy Flow of its own for this test."""
    with toy_flow() as flow:
        yield flow


@pytest.fixture(scope="module")
def toy_server() -> Iterator[BackgroundServer]:
    with toy_flow() as flow, serving(flow) as server:
        yield server


@pytest.fixture(scope="module")
def search_flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    flow = Flow.load_config(SEARCH_FLOW)
    flow.workspace = str(tmp_path_factory.mktemp("search-http"))
    with flow:
        yield flow


@pytest.fixture(scope="module")
def search_server(search_flow: Flow) -> Iterator[BackgroundServer]:
    with serving(search_flow) as server:
        yield server


@pytest.fixture
def http() -> Iterator[Callable[[str], httpx.Client]]:
    """``http(url)``: a plain httpx client on that server, closed after the test."""
    clients: list[httpx.Client] = []

    def make(url: str) -> httpx.Client:
        client = httpx.Client(base_url=url, timeout=30, trust_env=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
