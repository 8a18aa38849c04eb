"""A Jina executor may serve any endpoint, ``/status`` included: a POST to a path the gateway
also answers (GET ``/status``) reaches the Flow when an executor serves it, and stays the
gateway's (405, GET only) when none does."""

from __future__ import annotations

import httpx

from faasflow import Client, Document, DocumentArray, Executor, Flow, requests
from tests.support.conformance import free_port


class Everything(Executor):
    @requests
    def mark(self, docs: DocumentArray, **kwargs: object) -> dict[str, object]:
        for doc in docs:
            doc.text = "seen"
        return {"shard_id": self.runtime_args.shard_id}


class OnlyIndex(Executor):
    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs: object) -> None:
        pass


def test_post_status_reaches_an_executor_that_serves_it_and_get_status_stays_the_gateways() -> None:
    port = free_port()
    with Flow(port=port).add(uses=Everything, name="pod0"):
        answer = Client(port=port).post("/status", DocumentArray([Document(), Document()]), return_responses=True)
        status = httpx.get(f"http://127.0.0.1:{port}/status", timeout=10)
    assert [d.text for d in answer[0].docs] == ["seen", "seen"]
    assert answer[0].parameters["__results__"]
    assert status.status_code == 200 and status.json()["name"] == "flow"


def test_post_status_without_an_executor_serving_it_is_405() -> None:
    port = free_port()
    with Flow(port=port).add(uses=OnlyIndex, name="pod0"):
        answer = httpx.post(f"http://127.0.0.1:{port}/status", json={"data": []}, timeout=10)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
