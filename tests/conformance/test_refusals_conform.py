"""A tag value JSON cannot carry (a set, an arbitrary object, NaN, an infinity, 2**70, a
non-string key) is refused the same way embedded, served and simulated: the same error,
naming the executor, its shard, the document and the tag's path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faasflow import Document, DocumentArray
from faasflow.sharding import shard_of
from tests.support.conformance import ExecutorCase, FlowCase, Modes, RequestCase, three_modes
from tests.support.conformance_executors import REFUSALS

# a join of a chain and a sharded (ANY) stage, then an ALL stage that refuses
FLOW = FlowCase((
    ExecutorCase("head", "Tagger", {"extras": True}),
    ExecutorCase("hits", "Matcher", {"k": 2}, shards=3, polling="ANY", needs=("head",)),
    ExecutorCase("join", "Joiner", needs=("head", "hits")),
    ExecutorCase("wide", "Tagger", shards=2, polling={"/search": "ALL", "*": "ANY"}, needs=("join",)),
))
MESSAGES = {
    "set": "a value of type set cannot be sent",
    "object": "a value of type Opaque cannot be sent",
    "nan": "nan is not a JSON number",
    "inf": "-inf is not a JSON number",
    "bigint": f"integer {2**70} is outside the 64-bit range",
    "intkey": "key 1 is not a string; JSON keys are strings",
    "longdouble": "a numpy float128 cannot be sent as JSON",
}
CARRIED = list(REFUSALS)


@pytest.fixture(scope="module")
def modes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Modes]:
    with three_modes(FLOW, tmp_path_factory.mktemp("refusals")) as started:
        yield started


def same_everywhere(modes: Modes, request: RequestCase) -> tuple:
    outcomes = modes.outcomes(request)
    assert outcomes["embedded"] == outcomes["served"] == outcomes["simulated"], outcomes
    assert outcomes["embedded"].error is not None, outcomes
    return outcomes["embedded"].error


@pytest.mark.parametrize("kind", CARRIED)
@pytest.mark.parametrize(("executor", "endpoint", "shard"),
                         [("hits", "/search", None), ("wide", "/search", 1), ("head", "/other", 0)])
def test_a_refused_tag_names_executor_shard_doc_and_path(modes: Modes, kind: str, executor: str, endpoint: str,
                                                         shard: int | None) -> None:
    docs = DocumentArray(Document(id=f"dök-{i}", text="x") for i in range(4))
    if shard is None:  # an ANY stage: the shard that owns the middle doc
        shard = shard_of(docs[len(docs) // 2].id, 3)
        docs = DocumentArray([docs[len(docs) // 2]])
    request = RequestCase(endpoint, docs, {executor: {"fail": kind, "fail_shard": shard}})
    error = same_everywhere(modes, request)
    middle = docs[len(docs) // 2].id
    assert error[:4] == (executor, shard, endpoint, "BadInputError")
    assert f"document {middle!r} tags.bad.deep[1]: " in error[4] and MESSAGES[kind] in error[4]


@pytest.mark.parametrize("kind", CARRIED)
def test_a_refused_result_names_executor_and_path(modes: Modes, kind: str) -> None:
    request = RequestCase("/search", DocumentArray(), {"wide": {"fail": kind, "fail_shard": 1}})
    error = same_everywhere(modes, request)
    assert error[:4] == ("wide", 1, "/search", "BadInputError")
    assert error[4].startswith("the returned results.bad.deep[1]: ") and MESSAGES[kind] in error[4]


@pytest.mark.parametrize("kind", ["raise", "key"])
def test_a_raising_executor_is_named_alike(modes: Modes, kind: str) -> None:
    request = RequestCase("/index", DocumentArray([Document(id="a")]), {"join": {"fail": kind}})
    error = same_everywhere(modes, request)
    assert error[:4] == ("join", 0, "/index", "ValueError" if kind == "raise" else "KeyError")


def test_the_flow_conforms_when_nothing_fails(modes: Modes, tmp_path: Path) -> None:
    docs = DocumentArray(Document(id=f"d{i}", tags={"in": i}) for i in range(5))
    for endpoint in ("/index", "/search", "/other"):
        outcomes = modes.outcomes(RequestCase(endpoint, docs, {"limit": 1}))
        assert outcomes["embedded"] == outcomes["served"] == outcomes["simulated"]
        assert outcomes["embedded"].error is None and len(outcomes["embedded"].docs) == 5
