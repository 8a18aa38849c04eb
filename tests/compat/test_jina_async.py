"""Jina's AsyncFlow / Flow(asyncio=True) and async Client: ``post`` and the shortcuts are async
generators yielding each batch's docs (or its Response with ``return_responses``), embedded
and through a served Flow."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import faasflow
from faasflow import AsyncFlow, Document, DocumentArray, Executor, Flow, FlowError, requests
from faasflow.client import AsyncClient, Client
from faasflow.request import Response
from tests.support.conformance import free_port


class Tagger(Executor):
    @requests
    def tag(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            doc.tags["seen"] = True

    @requests(on="/fail")
    def fail(self, docs: DocumentArray, **kwargs: Any) -> None:
        raise RuntimeError("boom")


@contextmanager
def poster(mode: str) -> Iterator[Any]:
    """What posts asynchronously: an AsyncFlow (embedded) or an AsyncClient of a served Flow."""
    if mode == "embedded":
        with AsyncFlow().add(uses=Tagger, name="tagger") as flow:
            yield flow
    else:
        port = free_port()
        with Flow(port=port).add(uses=Tagger, name="tagger"):
            client = Client(host="127.0.0.1", port=port, asyncio=True)
            try:
                yield client
            finally:
                client.close()


MODES = ("embedded", "served")


async def collect(results: AsyncIterator[Any]) -> list[Any]:
    return [result async for result in results]


@pytest.mark.parametrize("is_async", [False, True])
def test_flow_set_asyncio_switch_post(is_async: bool) -> None:
    flow = Flow(asyncio=is_async)
    assert inspect.isasyncgenfunction(flow.post) == is_async
    assert isinstance(flow, AsyncFlow) == is_async
    assert isinstance(flow.add(), AsyncFlow) == is_async  # add's copy keeps the kind


def test_async_client_switch() -> None:
    client = Client(port=free_port(), asyncio=True)
    try:
        assert isinstance(client, AsyncClient) and inspect.isasyncgenfunction(client.post)
        assert inspect.isasyncgenfunction(client.search)
    finally:
        client.close()


def test_async_flow_is_a_top_level_export() -> None:
    assert faasflow.AsyncFlow is AsyncFlow and "AsyncFlow" in faasflow.__all__


@pytest.mark.parametrize("mode", MODES)
def test_post_yields_each_batch_docs(mode: str) -> None:
    with poster(mode) as target:
        inputs = DocumentArray([Document(id=str(i)) for i in range(5)])
        batches = asyncio.run(collect(target.post("/index", inputs, request_size=2)))
    assert [type(batch) for batch in batches] == [DocumentArray] * 3
    assert [[doc.id for doc in batch] for batch in batches] == [["0", "1"], ["2", "3"], ["4"]]
    assert all(doc.tags["seen"] for batch in batches for doc in batch)
    assert [doc.id for doc in inputs] == [str(i) for i in range(5)] and not inputs[0].tags  # inputs untouched


@pytest.mark.parametrize("mode", MODES)
def test_return_responses_and_shortcuts(mode: str) -> None:
    with poster(mode) as target:
        responses = asyncio.run(collect(target.search([Document(), Document()], return_responses=True)))
        assert inspect.isasyncgenfunction(target.index)
    assert len(responses) == 1 and isinstance(responses[0], Response)
    assert len(responses[0].docs) == 2 and responses[0].error is None


@pytest.mark.parametrize("mode", MODES)
def test_callbacks_and_errors_follow_the_sync_rules(mode: str) -> None:
    done: list[Response] = []
    errors: list[Response] = []
    with poster(mode) as target:
        asyncio.run(collect(target.post("/index", [Document()] * 3, request_size=1, on_done=done.append)))
        asyncio.run(collect(target.post("/fail", [Document()], on_error=errors.append)))
        with pytest.raises(FlowError):  # no on_error: the failure is raised, as by the sync post
            asyncio.run(collect(target.post("/fail", [Document()])))
    assert len(done) == 3 and len(errors) == 1 and errors[0].error is not None


def test_the_event_loop_is_not_blocked_while_a_batch_runs() -> None:
    release = threading.Event()

    class Slow(Executor):
        @requests
        def wait(self, docs: DocumentArray, **kwargs: Any) -> None:
            assert release.wait(10)

    async def main(flow: Flow) -> list[Any]:
        posting = asyncio.ensure_future(collect(flow.post("/", [Document()])))
        await asyncio.sleep(0.05)
        assert not posting.done()  # the batch waits in its thread, and the loop still runs this
        release.set()
        return await posting

    with AsyncFlow().add(uses=Slow) as flow:
        results = asyncio.run(main(flow))
    assert len(results) == 1 and len(results[0]) == 1


