"""The gateway serves any Backend and knows nothing of the Flow: a backend written here is
served as a Flow's is, and a Flow passed as is is refused at once with what to pass instead."""

from __future__ import annotations

from typing import Any

import pytest

from faasflow import Document, DocumentArray, Flow
from faasflow.embedded import EmbeddedBackend
from faasflow.request import Response, make_response
from faasflow.serve import Backend, ExecutorObserver, create_app, serve_app_in_background


class Shouting:
    """A Backend with no Flow and no engine: upper-cases the text of what it is sent."""

    name = "shouting"

    @property
    def served_endpoints(self) -> list[str]:
        return ["/shout"]

    def serves(self, endpoint: str) -> bool:
        return endpoint == "/shout"

    def process(self, endpoint: str, docs: DocumentArray, parameters: dict[str, Any], request_id: str) -> Response:
        loud = DocumentArray([Document(id=doc.id, text=(doc.text or "").upper()) for doc in docs])
        return make_response(request_id, endpoint, loud, parameters)

    def status(self, runtime: bool = False) -> dict[str, Any]:
        return {"name": self.name, "backend": "test", "ready": True, "endpoints": self.served_endpoints}

    def observe_executors(self, observer: ExecutorObserver) -> None:
        pass


def test_any_backend_is_served(http):
    assert isinstance(Shouting(), Backend)
    server = serve_app_in_background(create_app(Shouting()), port=0)
    try:
        client = http(server.url)
        answer = client.post("/shout", json={"data": [{"id": "a", "text": "hi"}], "parameters": {"x": 1}})
        assert answer.status_code == 200
        assert [doc["text"] for doc in answer.json()["data"]] == ["HI"]
        assert answer.json()["parameters"] == {"x": 1}
        assert client.get("/status").json()["name"] == "shouting"
        missing = client.post("/whisper", json={})
        assert missing.status_code == 404
        assert missing.json()["error"]["served"] == ["/shout"]
    finally:
        server.stop()


def test_a_flow_is_refused_with_what_to_pass_instead(toy: Flow):
    with pytest.raises(TypeError, match=r"takes a Backend, not Flow.*EmbeddedBackend\(flow\)"):
        create_app(toy)  # type: ignore[arg-type]
    assert create_app(EmbeddedBackend(toy)).state.backend.flow is toy
