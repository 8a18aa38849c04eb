"""``GET /``: the Flow drawn, with each executor's figures, as one self-contained HTML page
(inline SVG, style and script; a Content-Security-Policy that allows nothing else), over
real HTTP. The browser test (test_flow_page_browser.py) runs its script."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

from faasflow import DocumentArray, Executor, Flow, requests
from faasflow.diagram import render_svg
from faasflow.embedded import EmbeddedBackend
from faasflow.serve import BackgroundServer, start_background_server
from faasflow.serve.app import RESERVED_PATHS
from faasflow.serve.page import render_page
from tests.support.dag_executors import Join, Scores, Tag

HOSTILE = "<img src=x onerror=alert(1)>&\"'"


def page_flow() -> Flow:
    """Shards, ALL and ANY polling, a join, and an executor named to break a careless page."""
    return (Flow(name="page <b>&</b>")
            .add(uses=Tag, name="start")
            .add(uses=Scores, name="left", shards=2, polling={"/search": "ALL", "*": "ANY"}, needs="start")
            .add(uses=Tag, name=HOSTILE, shards=3, needs="start")
            .add(uses=Join, name="join", needs=["left", HOSTILE]))


class Root(Executor):
    @requests(on="/")
    def root(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            doc.tags["root"] = True


def sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@pytest.fixture(scope="module")
def page_server() -> Iterator[tuple[Flow, BackgroundServer]]:
    with page_flow() as flow:
        server = start_background_server(EmbeddedBackend(flow), port=0)
        try:
            yield flow, server
        finally:
            server.stop()


def test_the_page_is_html_with_a_strict_policy_and_nothing_from_elsewhere(page_server, http):
    flow, server = page_server
    answer = http(server.url).get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["x-content-type-options"] == "nosniff"
    policy = dict(part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";"))
    page = answer.text
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.S)
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
    assert policy["script-src"] == f"'{sha256(script)}'" and policy["style-src"] == f"'{sha256(style)}'"
    assert "unsafe-inline" not in answer.headers["content-security-policy"]
    # no script, style or image from anywhere: every src/href is a relative link to this gateway
    assert not re.search(r"<script[^>]*\bsrc=", page) and " style=" not in page
    assert sorted(set(re.findall(r'\b(?:src|href)="([^"]*)"', page))) == ["docs", "favicon.ico", "metrics", "status"]
    assert "estimated from buckets" in page


def test_the_page_draws_the_flow_and_lists_every_executor_escaped(page_server, http):
    flow, server = page_server
    page = http(server.url).get("/").text
    assert render_svg(flow.plan) in page  # the very diagram `faasflow show --svg` writes
    assert "<img src=x" not in page and "<b>&</b>" not in page
    escaped = "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#x27;"
    assert page.count(f'<tr data-executor="{escaped}">') == 1
    for name in ("start", "left", "join"):
        assert f'<tr data-executor="{name}">' in page and f'<g class="ff-node" data-executor="{name}">' in page
    assert "<title>Flow page &lt;b&gt;&amp;&lt;/b&gt; \u00b7 faasflow</title>" in page


def test_head_and_the_icon(page_server, http):
    _, server = page_server
    client = http(server.url)
    head = client.head("/")
    assert head.status_code == 200 and head.content == b"" and "content-security-policy" in head.headers
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_the_page_is_no_endpoint_of_the_flow(toy_server, http):
    client = http(toy_server.url)  # its executor serves /echo, /fail and /count only
    assert "/" in RESERVED_PATHS and "/favicon.ico" in RESERVED_PATHS
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/favicon.ico" not in paths
    assert "/" not in client.get("/status").json()["endpoints"]
    refused = client.post("/", json={"data": [{"text": "x"}]})
    assert refused.status_code == 405 and refused.headers["allow"] == "GET"
    assert refused.json()["error"]["detail"] == "/ answers GET only"


def test_a_flow_that_serves_slash_keeps_both(serve, http):
    with Flow(name="rooted").add(uses=Root, name="root") as flow:
        client = http(serve(flow).url)
        posted = client.post("/", json={"data": [{"id": "a"}]})
        assert posted.status_code == 200 and posted.json()["data"][0]["tags"] == {"root": True}
        assert client.get("/").headers["content-type"].startswith("text/html")


def test_a_flow_with_a_default_binding_still_takes_post_slash(serve, http):
    with Flow(name="tagged").add(uses=Tag, name="tag") as flow:
        client = http(serve(flow).url)
        assert client.post("/", json={"data": [{"id": "a"}]}).json()["data"][0]["tags"]["path"] == ["tag0"]
        assert "tag" in client.get("/").text


def test_a_gateway_that_runs_no_executor_says_so():
    described = {"name": "deployed", "executors": [{"name": "db", "uses": "x.Db", "shards": 2, "needs": ["gateway"],
                                                    "polling": {"*": "ANY"}}],
                 "answer": ["db"], "backend": "stepfunctions", "ready": True, "version": "0"}
    page = render_page(described)
    assert "counts none of their calls" in page and '<tr data-executor="db">' in page
    assert "counts none" not in render_page({**described, "backend": "embedded"})


def test_a_deployed_gateway_draws_the_same_diagram(serve, http):
    from faasflow.compiler.decide import gateway_config
    from faasflow.runtime.gateway import StepFunctionsBackend
    from faasflow.serve.app import create_app

    plan = page_flow().plan
    backend = StepFunctionsBackend("arn:aws:states:::stateMachine:page", gateway_config(plan), client=object())
    page = http(serve(create_app(backend)).url).get("/")
    assert page.status_code == 200 and render_svg(plan) in page.text and "counts none of their calls" in page.text
