"""Jina's per-request ``target_executor``, in every mode (embedded, served, and deployed: a
Client to the gateway on the Step Functions backend, whose runs are the simulated state
machine's): a regular expression matched from the start of each executor's name (Jina's
``re.match``); only the executors it matches run, the others pass the docs through. One that
matches no executor is the caller's mistake (a 422 over HTTP), naming the field."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from faasflow import Document, DocumentArray, Flow
from faasflow.errors import UnknownTargetError
from tests.support.deployed_gateway import deployed_client, open_any
from tests.support.wrap_executors import MatrixMerger, ShardTag, Stamp


@pytest.fixture
def post(flow_mode: str, tmp_path: Path) -> Callable[..., Any]:
    def run(flow: Flow, on: str, inputs: Any = None, **kwargs: Any) -> Any:
        with open_any(flow, flow_mode, tmp_path) as poster:
            return poster.post(on, inputs, **kwargs)

    return run


def chain() -> Flow:
    return (Flow().add(uses=Stamp, name="first").add(uses=Stamp, name="second")
            .add(uses=ShardTag, name="db", shards=2, polling={"/index": "ALL"}, uses_after=MatrixMerger)
            .add(uses=Stamp, name="third"))


def paths(out: DocumentArray) -> list[list[str]]:
    return [d.tags.get("path", []) for d in out]


def test_only_the_matching_executors_run(post):
    out = post(chain(), "/index", Document(id="a"), target_executor="second")
    assert out.ids == ["a"] and paths(out) == [["second"]]
    out = post(chain(), "/index", Document(id="a"), target_executor="first|third")
    assert paths(out) == [["first", "third"]]


def test_matched_from_the_start_of_the_name_as_re_match(post):
    assert paths(post(chain(), "/index", Document(id="a"), target_executor="fir")) == [["first"]]
    assert paths(post(chain(), "/index", Document(id="a"), target_executor=".*ir")) == [["first", "third"]]
    with pytest.raises(UnknownTargetError):
        post(chain(), "/index", Document(id="a"), target_executor="irst")  # re.match: not a search


def test_a_sharded_executor_not_matched_passes_through_with_its_uses_after(post):
    out = post(chain(), "/index", [Document(id="a"), Document(id="b")], target_executor="t")
    assert out.ids == ["a", "b"] and paths(out) == [["third"], ["third"]]
    assert all("shard" not in d.tags for d in out)  # no shard ran, nor the uses_after
    out = post(chain(), "/index", [Document(id="a"), Document(id="b")], target_executor="db")
    assert out[0].id == "merged" and out[0].tags["rows"] == 2  # targeted: its uses_after runs with it


def test_without_target_executor_every_executor_runs(post):
    out = post(chain(), "/index", Document(id="a"))
    assert out[0].id == "merged" and out[0].tags["path"] == ["third"]
    assert paths(out)[1:] == [["first", "second", "third"]] * 2


def test_matching_no_executor_is_an_error_naming_the_field(post):
    with pytest.raises(UnknownTargetError, match="field 'target_executor'.*'nothing' matches no executor"):
        post(chain(), "/index", Document(id="a"), target_executor="nothing")
    with pytest.raises(UnknownTargetError, match="field 'target_executor'.*not a regular expression"):
        post(chain(), "/index", Document(id="a"), target_executor="(")


@pytest.mark.parametrize("pattern", ["(.*)*(.*)*(.*)*$x", r"(\w+\w+)+!", ".*.*.*.*x", "x" * 200])
def test_a_pattern_that_could_match_slowly_is_refused_at_once(post, pattern):
    # a backtracking engine takes exponential time on a repeated group: refused before matching
    started = time.perf_counter()
    with pytest.raises(UnknownTargetError, match="field 'target_executor'.*cannot be used: (a repeated group|it )"):
        post(chain(), "/index", Document(id="a"), target_executor=pattern)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("deployed", [False, True], ids=["served", "deployed"])
def test_over_http_the_body_field_and_its_422(tmp_path: Path, deployed: bool):
    flow = chain()
    if deployed:
        opened = deployed_client(flow, tmp_path / "s3")
    else:
        opened = open_any(flow, "served", tmp_path)
    with opened as client:
        url = client.url
        answer = httpx.post(f"{url}/index", json={"data": [{"id": "a"}], "target_executor": "sec"})
        assert answer.status_code == 200
        assert answer.json()["data"][0]["tags"]["path"] == ["second"]
        refused = httpx.post(f"{url}/index", json={"data": [{"id": "a"}], "target_executor": "zzz"})
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert (error["reason"], error["field"], error["target_executor"]) == (
            "unknown_target_executor", "target_executor", "zzz")
        assert error["executors"] == ["first", "second", "db", "third"]
        wrong_type = httpx.post(f"{url}/index", json={"data": [], "target_executor": 3})
        assert wrong_type.status_code == 422
        assert wrong_type.json()["error"]["errors"][0]["loc"] == ["body", "target_executor"]
