"""Jina's ``uses_before`` / ``uses_after`` of a sharded executor, in every mode (embedded,
served, simulated state machine): the uses_before's answer is what the shards get, the
uses_after gets every shard's answer (``docs_matrix``, in shard order; ``docs`` all of them,
last shard first, as Jina's head concatenates them) and its answer replaces the merge."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from faasflow import Document, DocumentArray, Executor, Flow, FlowConfigError, requests
from faasflow.errors import FlowError
from faasflow.topology import describe, render_mermaid, render_text
from tests.support.wrap_executors import Before, MatrixMerger, NoSearch, ResultsAfter, ShardTag, Stamp

WRAPS = "tests.support.wrap_executors"


def docs(n: int = 4) -> DocumentArray:
    return DocumentArray(Document(id=f"d{i}", text=f"t{i}") for i in range(n))


def wrapped(polling: str = "ALL", **helpers) -> Flow:
    return (Flow().add(uses=Stamp, name="first")
            .add(uses=ShardTag, name="db", shards=3, polling=polling, **helpers)
            .add(uses=Stamp, name="last"))


def test_uses_after_gets_every_shards_answer_and_replaces_the_merge(run_flow):
    out = run_flow(wrapped(uses_after=MatrixMerger), "/search", docs(), parameters={"limit": 1})
    summary = out[0]
    assert summary.id == "merged"
    assert summary.tags["rows"] == 3  # one DocumentArray per shard, in shard order
    assert summary.tags["row_ids"] == [["d0", "d1", "d2", "d3"]] * 3
    assert summary.tags["shard_of_docs"] == [2] * 4 + [1] * 4 + [0] * 4  # docs: last shard first, as Jina's
    assert summary.tags["limit"] == 1
    assert out.ids[1:] == [f"d{i}@{s}" for s in range(3) for i in range(4)]
    assert all(d.tags["path"] == ["first", "last"] for d in out[1:])


def test_uses_before_output_is_what_the_shards_get(run_flow):
    out = run_flow(wrapped("ANY", uses_before=Before, uses_after=MatrixMerger), "/index", docs(),
                   parameters={"mark": "m"})
    rows = out[0].tags["row_ids"]
    assert sorted(i for row in rows for i in row) == ["added-by-before", "d0", "d1", "d2", "d3"]  # partitioned
    assert [d.tags.get("before") for d in out[1:]].count("m") == 4  # its own doc it did not mark


def test_uses_before_alone_keeps_the_built_in_merge(run_flow):
    out = run_flow(wrapped(uses_before=Before), "/search", docs(), parameters={"limit": 2})
    assert out.ids == ["d0", "d1", "d2", "d3", "added-by-before"]
    assert [len(d.matches) for d in out] == [2] * 5  # merged by id, cut to the limit
    assert [d.tags.get("before") for d in out] == [True] * 4 + [None]


def test_a_dict_from_uses_after_is_a_result_and_keeps_its_docs(run_flow):
    responses = run_flow(wrapped(uses_after=ResultsAfter), "/search", docs(2), return_responses=True)
    (response,) = responses
    assert response.parameters["__results__"]["db/uses_after-0"] == {"rows": 3}  # keyed by its Jina runtime name
    assert response.docs.ids == ["d0", "d1"] * 3  # what it was given: every shard's docs, last shard first


def test_parameters_nested_under_the_uses_after_name_reach_it(run_flow):
    out = run_flow(wrapped(uses_after=MatrixMerger), "/search", docs(1),
                   parameters={"limit": 5, "db": {"limit": 4}, "db/uses-after": {"limit": 3}})
    assert out[0].tags["limit"] == 3


def test_a_uses_after_without_a_method_for_the_endpoint_leaves_the_merge(run_flow):
    plain = run_flow(wrapped(), "/search", docs(), parameters={"limit": 2})
    out = run_flow(wrapped(uses_after=NoSearch), "/search", docs(), parameters={"limit": 2})
    assert [d.to_dict() for d in out] == [d.to_dict() for d in plain]


def test_a_failing_uses_after_is_named(run_flow):
    flow = Flow().add(uses=ShardTag, name="db", shards=2, polling="ALL", uses_after=f"{WRAPS}.Failing")
    with pytest.raises(FlowError) as info:
        run_flow(flow, "/search", docs(1))
    assert (info.value.executor, info.value.shard, info.value.endpoint) == ("db/uses-after", 0, "/search")


# --- one shard: Jina 3 gives the executor a head (uses_before) and a tail (uses_after) too ---


class JoinSeen(Executor):
    """A join's uses_before: one doc saying what it got (its needs' outputs as docs_matrix)."""

    @requests
    def seen(self, docs, docs_matrix, **kwargs):
        return DocumentArray([Document(id="seen", tags={
            "rows": None if docs_matrix is None else [[f"{d.id}:{'/'.join(d.tags['path'])}" for d in row]
                                                      for row in docs_matrix],
            "docs": [d.id for d in docs]})])


class GotMatrix(Executor):
    """Records whether it got a docs_matrix (a join's executor behind a uses_before gets none)."""

    @requests
    def got(self, docs, docs_matrix, **kwargs):
        for d in docs:
            d.tags["matrix"] = None if docs_matrix is None else len(docs_matrix)


def branches(**join) -> Flow:
    return (Flow().add(uses=Stamp, name="a").add(uses=Stamp, name="b", needs="gateway")
            .add(name="j", needs=["a", "b"], **join))


def test_a_joins_uses_before_gets_the_needs_outputs_in_place_of_the_reduce(run_flow):
    out = run_flow(branches(uses=GotMatrix, uses_before=JoinSeen), "/", docs(2))
    assert out.ids == ["seen"]  # its answer is the executor's input
    assert out[0].tags["rows"] == [["d0:a", "d1:a"], ["d0:b", "d1:b"]]  # the needs' outputs, in needs order
    assert out[0].tags["docs"] == ["d0", "d1"]  # docs: reduced by id, as Jina's worker gets them
    assert out[0].tags["matrix"] is None  # the executor gets one input: the uses_before's answer


class MapSeen(Executor):
    """One doc saying what its docs_map held: each name and the ids under it (with the shard
    that tagged them, if one did)."""

    @requests
    def seen(self, docs, docs_map, **kwargs):
        return DocumentArray([Document(id="map", tags={
            "map": None if docs_map is None else {
                name: [f"{d.id}@{d.tags.get('shard', '-')}" for d in row] for name, row in docs_map.items()}})])


def test_a_joins_uses_before_gets_its_needs_in_docs_map(run_flow):
    out = run_flow(branches(uses_before=MapSeen), "/", docs(2))
    assert out[0].tags["map"] == {"a": ["d0@-", "d1@-"], "b": ["d0@-", "d1@-"]}


def test_a_uses_after_gets_its_executors_last_shard_in_docs_map_as_jinas(run_flow):
    out = run_flow(wrapped(uses_after=MapSeen), "/search", docs(2))
    assert out[0].tags["map"] == {"db": ["d0@2", "d1@2"]}


def test_a_joins_uses_before_with_disable_reduce_gets_the_docs_concatenated(run_flow):
    out = run_flow(branches(uses_before=JoinSeen, disable_reduce=True), "/", docs(2))
    assert out[0].tags["docs"] == ["d0", "d1", "d0", "d1"]  # last need first, as Jina's worker
    assert out[0].tags["rows"] == [["d0:a", "d1:a"], ["d0:b", "d1:b"]]


def test_a_joins_base_executor_uses_before_reduces(run_flow):
    out = run_flow(branches(uses_before="BaseExecutor"), "/", docs(5))  # Jina's test_uses_before_reduce
    assert out.ids == [f"d{i}" for i in range(5)]


def test_a_one_shard_uses_after_gets_a_docs_matrix_of_one(run_flow):
    flow = Flow().add(uses=Stamp, name="first").add(uses=ShardTag, name="db", uses_after=MatrixMerger)
    out = run_flow(flow, "/search", docs(2), parameters={"limit": 1})
    summary = out[0]
    assert (summary.tags["rows"], summary.tags["row_ids"]) == (1, [["d0", "d1"]])
    assert summary.tags["shard_of_docs"] == [0, 0] and summary.tags["limit"] == 1
    assert out.ids[1:] == ["d0@0", "d1@0"]


def test_a_one_shard_uses_before_output_is_what_the_executor_gets(run_flow):
    flow = Flow().add(uses=ShardTag, name="db", uses_before=Before, uses_after=ResultsAfter)
    (response,) = run_flow(flow, "/index", docs(2), parameters={"mark": "m"}, return_responses=True)
    assert response.docs.ids == ["d0", "d1", "added-by-before"]
    assert [d.tags.get("before") for d in response.docs] == ["m", "m", None]
    assert [d.tags["shard"] for d in response.docs] == [0, 0, 0]
    assert response.parameters["__results__"] == {"db/uses_after-0": {"rows": 1}}


# --- configuration: the same in every mode, checked once ---


def test_shards_1_is_accepted_as_jina_gives_the_executor_a_head_and_tail():
    for field in ("uses_before", "uses_after"):
        spec = Flow().add(uses=ShardTag, name="db", **{field: MatrixMerger}).plan.executor("db")
        assert getattr(spec, field) is not None and getattr(spec, field).name == f"db/{field.replace('_', '-')}"
    text = yaml.safe_dump({"jtype": "Flow", "executors": [{"name": "db", "uses": f"{WRAPS}.ShardTag",
                                                            "uses_after": f"{WRAPS}.MatrixMerger"}]})
    after = Flow.load_config(text).plan.executor("db").uses_after
    assert after is not None and after.cls is MatrixMerger
    assert Flow().add(name="j", uses_before="BaseExecutor").plan.executor("j").uses_before is not None


def test_a_uses_after_that_cannot_be_loaded_names_the_field():
    with pytest.raises(FlowConfigError, match="executor 'db', field 'uses_after': cannot find"):
        Flow().add(uses=ShardTag, name="db", shards=2, uses_after=f"{WRAPS}.Nope").build()
    with pytest.raises(FlowConfigError, match="executor 'db', field 'uses_before'"):
        Flow().add(uses=ShardTag, name="db", shards=2, uses_before=3).build()


def test_yaml_and_save_config_round_trip(tmp_path: Path):
    text = f"""
jtype: Flow
executors:
  - name: db
    uses: {WRAPS}.ShardTag
    shards: 2
    uses_before: {WRAPS}.Before
    uses_after: {WRAPS}.MatrixMerger
"""
    flow = Flow.load_config(text)
    entry = flow.to_dict()["executors"][0]
    assert (entry["uses_before"], entry["uses_after"]) == (f"{WRAPS}.Before", f"{WRAPS}.MatrixMerger")
    path = tmp_path / "flow.yml"
    flow.save_config(path)
    again = Flow.load_config(path).plan.executor("db")
    assert again.uses_before is not None and again.uses_before.cls is Before
    assert again.uses_after is not None and again.uses_after.cls is MatrixMerger
    assert Flow().add(uses=ShardTag, name="db", shards=2, uses_after=MatrixMerger).to_dict()[
        "executors"][0]["uses_after"] == f"{WRAPS}.MatrixMerger"  # a class is written as its import path


def test_show_describes_them():
    plan = wrapped(uses_before=Before, uses_after=MatrixMerger).plan
    described = {e["name"]: e for e in describe(plan)["executors"]}
    assert described["db"]["uses_after"] == f"{WRAPS}.MatrixMerger"
    assert "uses_after" not in described["first"]  # unset: left out, as before
    text = render_text(plan)
    assert f"uses_before {WRAPS}.Before" in text and f"uses_after {WRAPS}.MatrixMerger" in text
    assert "uses_after: MatrixMerger" in render_mermaid(plan)
