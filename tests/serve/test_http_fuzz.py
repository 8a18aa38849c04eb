"""Fuzzing the gateway from its own OpenAPI schema (schemathesis: valid and invalid bodies
alike) and with arbitrary bytes (hypothesis): no 5xx, no crash, every answer documented."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests as http_requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from faasflow import DocumentArray, Executor, Flow, requests
from faasflow.embedded import EmbeddedBackend
from faasflow.serve import BackgroundServer, start_background_server

# A list of huge numbers becomes float32 infinities, as numpy casts them; not a gateway problem.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class Keeper(Executor):
    """Stores what it is sent and answers with it, over shards, merging on /search: the
    gateway, the codec and the merge all see whatever the fuzzer makes up."""

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            doc.tags["seen"] = True

    @requests(on="/search")
    def search(self, docs: DocumentArray, **kwargs: Any) -> DocumentArray:
        return docs


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[BackgroundServer]:
    with Flow(name="fuzz").add(uses=Keeper, name="keeper", shards=2, polling={"/search": "ALL"}) as flow:
        server = start_background_server(EmbeddedBackend(flow), port=0, max_body_bytes=64 * 1024)
        yield server
        server.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_server: BackgroundServer) -> Any:
    """The schema as the server publishes it (fetched with no proxy from the environment)."""
    published = httpx.get(f"{fuzz_server.url}/openapi.json", trust_env=False).json()
    return schemathesis.openapi.from_dict(published)


@pytest.fixture(scope="module")
def session() -> Iterator[http_requests.Session]:
    with http_requests.Session() as session:
        session.trust_env = False  # this machine's own server: never through a proxy
        yield session


POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
OPERATIONS = [("POST", "/index", POSITIVE), ("POST", "/index", NEGATIVE), ("POST", "/search", POSITIVE),
              ("POST", "/search", NEGATIVE), ("GET", "/status", POSITIVE), ("GET", "/metrics", POSITIVE)]


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS, ids=lambda value: getattr(value, "value", value))
def test_api_from_its_openapi_schema(api_schema: Any, fuzz_server: BackgroundServer, session: http_requests.Session,
                                     method: str, path: str, mode: GenerationMode) -> None:
    """Bodies valid by the schema and bodies made invalid on purpose: never a 5xx, and every
    answer's status, content type and body as the schema documents them."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case: Any) -> None:
        case.call_and_validate(base_url=fuzz_server.url, session=session, checks=CHECKS)

    call()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
DOCUMENT_FIELDS = st.sampled_from(["id", "text", "uri", "blob", "tensor", "embedding", "tags", "scores",
                                   "matches", "chunks", "mime_type"])
BODIES = (
    st.binary(max_size=200)
    | JSON
    | st.fixed_dictionaries({"data": st.lists(st.dictionaries(DOCUMENT_FIELDS, JSON, max_size=4), max_size=4)},
                            optional={"parameters": JSON})
)


@given(body=BODIES, endpoint=st.sampled_from(["/index", "/search", "/other", "/"]))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_arbitrary_bodies_never_get_a_server_error(fuzz_server: BackgroundServer, body: Any, endpoint: str) -> None:
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    answer = httpx.post(f"{fuzz_server.url}{endpoint}", content=content, timeout=30, trust_env=False)
    assert answer.status_code < 500, answer.text
    payload = answer.json()
    assert payload["header"]["request_id"] == answer.headers["x-request-id"]
    if answer.status_code != 200:
        assert payload["error"]["status"] == answer.status_code


def test_an_answer_with_every_document_field_fits_the_published_schema(fuzz_server: BackgroundServer) -> None:
    """docarray v1's fields (chunks stamped with parent_id and granularity, matches with
    adjacency, weights, evaluations) are documented as the codec writes them."""
    import fastjsonschema

    published = httpx.get(f"{fuzz_server.url}/openapi.json", trust_env=False).json()
    from faasflow import Document

    doc = Document(id="d", text="t", weight=0.5, offset=2.0, modality="text", location=[1, 2],
                   chunks=[Document(id="c", text="chunk")], matches=[Document(id="m", scores={"cosine": 0.1})])
    doc.evaluations["recall"] = 0.9
    answer = httpx.post(f"{fuzz_server.url}/search", json={"data": [doc.to_dict()]}, trust_env=False, timeout=30)
    assert answer.status_code == 200
    body = answer.json()
    assert body["data"][0]["chunks"][0]["parent_id"] == "d" and body["data"][0]["chunks"][0]["granularity"] == 1
    schema = {"$ref": "#/components/schemas/FlowAnswer", "components": published["components"]}
    fastjsonschema.compile(schema)(body)  # raises naming the first field that does not fit
