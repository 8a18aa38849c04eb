"""The reference app (orchestrator/flow.yml): a caller's mistake in a parameter is a
BadRequest naming it, and every metric the shards search by is ranked its own way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from faasflow import Document, DocumentArray, Flow
from faasflow.errors import BadRequest, FlowError
from faasflow.search import higher_is_better
from functions.match_ranker import MatchRanker
from functions.ranker import Ranker

ROOT = Path(__file__).resolve().parents[2]
WORDS = "red green blue bike car boat fast slow old new big small".split()


def texts(count: int = 60) -> DocumentArray:
    return DocumentArray(
        Document(id=f"line-{i}", text=" ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 5, 7)))
        for i in range(count)
    )


@pytest.fixture
def app(tmp_path: Path):
    flow = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
    flow.workspace = str(tmp_path)
    with flow:
        flow.post("/index", texts())
        yield flow


@pytest.mark.parametrize("metric", ["dot", "cosine", "euclidean", "jaccard"])
def test_every_metric_is_answered_best_first(app: Flow, metric: str):
    answer = app.post("/query", Document(text="red bike fast"), parameters={"metric": metric, "limit": 5})
    values = [d.scores[metric].value for d in answer]
    assert len(values) == 5
    assert values == sorted(values, reverse=higher_is_better(metric))


def test_null_limit_is_the_default(app: Flow):
    plain = app.post("/query", Document(text="red bike"))
    nulls = app.post("/query", Document(text="red bike"), parameters={"limit": None})
    assert nulls.ids == plain.ids and len(plain) == 9  # the shards' default 3, from each of 3


@pytest.mark.parametrize(
    ("name", "value"),
    [("limit", -1), ("limit", "abc"), ("limit", 1.5), ("limit", True), ("limit", 1e300), ("limit", 2**63),
     ("metric", "nope"), ("filter", 5)],
)
def test_a_bad_parameter_is_a_bad_request(app: Flow, name: str, value: Any):
    before = app.post("/query", Document(text="red bike"))
    with pytest.raises(FlowError) as caught:
        app.post("/query", Document(text="red bike"), parameters={name: value})
    cause = caught.value.cause
    assert isinstance(cause, BadRequest) and cause.field == name
    assert app.post("/query", Document(text="red bike")).ids == before.ids


@pytest.mark.parametrize("executor", [Ranker, MatchRanker])
@pytest.mark.parametrize("value", [-1, "abc", 1.5, True, 2**63])
def test_the_rankers_refuse_a_bad_limit(executor: type, value: Any):
    with pytest.raises(BadRequest) as caught:
        executor().rank(DocumentArray([Document(id="a")]), {"limit": value})
    assert caught.value.field == "limit"


def test_the_ranker_orders_by_the_score_the_docs_carry():
    docs = DocumentArray(Document(id=f"d{v}") for v in (1.0, 3.0, 2.0))
    for doc, value in zip(docs, (1.0, 3.0, 2.0)):
        doc.scores["dot"].value = value
    assert Ranker().rank(docs, {"limit": 2}).ids == ["d3.0", "d2.0"]  # dot: higher is better
