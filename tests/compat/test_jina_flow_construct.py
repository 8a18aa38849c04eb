"""Jina 3's Flow construction rules: executor naming, pass-through and gateway-only Flows,
polling defaults per endpoint, and what Jina options do (implemented, refused or warned)."""

from __future__ import annotations

import logging

import pytest

from faasflow import Document, DocumentArray, Executor, Flow, requests
from faasflow.errors import FlowConfigError
from faasflow.topology import describe


class Tagger(Executor):
    @requests
    def tag(self, docs, **kwargs):
        for doc in docs:
            doc.tags[self.runtime_args.name] = True


def test_unnamed_executors_count_every_executor_added_before():
    flow = Flow().add().add(name="named").add(uses=Tagger)
    assert [e["name"] for e in flow.executors] == ["executor0", "named", "executor2"]
    assert [spec.name for spec in flow.plan.executors] == ["executor0", "named", "executor2"]


def test_needs_can_name_the_default_names():
    flow = Flow().add(uses=Tagger).add(uses=Tagger, needs="gateway").add(uses=Tagger,
                                                                         needs=["executor0", "executor1"])
    assert flow.plan.executor("executor2").needs == ("executor0", "executor1")
    assert flow.plan.sinks == ("executor2",)


def test_add_without_uses_passes_docs_through(run_flow):
    docs = run_flow(Flow().add().add(), "/anything", DocumentArray([Document(id="a", text="x")]))
    assert docs.ids == ["a"] and docs[0].text == "x"


def test_a_flow_of_the_gateway_alone_answers_with_the_docs(run_flow):
    docs = run_flow(Flow(), "/index", [Document(id=str(i)) for i in range(3)])
    assert docs.ids == ["0", "1", "2"]


def test_base_executor_by_name_is_the_pass_through(run_flow):
    flow = Flow().add(uses="BaseExecutor").add(uses=Tagger)
    assert run_flow(flow, "/x", Document(id="d"))[0].tags == {"executor1": True}


def test_pass_through_round_trips_through_yaml_without_uses(tmp_path):
    flow = Flow().add().add(uses=Tagger, name="t")
    text = flow.save_config(tmp_path / "flow.yml")
    assert "PassThrough" not in text
    again = Flow.load_config(tmp_path / "flow.yml")
    assert [s.name for s in again.plan.executors] == ["executor0", "t"]


@pytest.mark.parametrize(
    ("polling", "index", "search", "other"),
    [
        ("ANY", "ANY", "ALL", "ANY"),
        ("ALL", "ANY", "ALL", "ALL"),
        ("all", "ANY", "ALL", "ALL"),
        ({"*": "ALL"}, "ANY", "ALL", "ALL"),
        ({"/index": "ALL", "/search": "ANY"}, "ALL", "ANY", "ANY"),
        ({"/other": "ALL"}, "ANY", "ALL", "ALL"),
    ],
)
def test_polling_resolves_per_endpoint_as_jinas_head(polling, index, search, other):
    flow = Flow().add(uses=Tagger, name="db", shards=2, polling=polling)
    spec = flow.plan.executor("db")
    assert (spec.polling.mode("/index"), spec.polling.mode("/search"), spec.polling.mode("/other")) == (
        index, search, other)
    # YAML round trip, topology and compiler read the same modes
    again = Flow.load_config(flow.to_dict()).plan.executor("db")
    assert again.polling == spec.polling
    shown = describe(flow.plan)["executors"][0]["polling"]
    assert shown["*"] == spec.polling.default


def test_default_polling_broadcasts_search_and_partitions_index(run_flow):
    class Count(Executor):
        @requests
        def count(self, docs, **kwargs):
            for doc in docs:
                doc.tags["shard"] = self.runtime_args.shard_id

    flow = Flow().add(uses=Count, name="c", shards=2)
    docs = [Document(id=str(i)) for i in range(8)]
    assert len(run_flow(flow, "/index", docs)) == 8
    # /search is ALL: every shard gets each doc; the answers reduce by id to one per doc
    assert len(run_flow(Flow().add(uses=Count, name="c", shards=2), "/search", docs)) == 8


def test_compiled_routes_read_the_resolved_modes():
    from faasflow.compiler.routes import plan_routes

    flow = Flow().add(uses=Tagger, name="db", shards=2)
    modes = {route.key: route.stages[0].mode for route in plan_routes(flow.plan)}
    assert modes["/search"] == "ALL" and modes["/index"] == "ANY" and modes["*"] == "ANY"


@pytest.mark.parametrize(
    "option",
    [{"when": {"tags__x": 1}}, {"uses_metas": {"name": "x"}},
     {"uses_dynamic_batching": {"/x": {"preferred_batch_size": 2}}},
     {"floating": True}, {"exit_on_exceptions": ["Exception"]}, {"stateful": True}, {"external": True},
     {"workspace": "/tmp/elsewhere"}],
)
def test_jina_options_that_change_behaviour_are_refused_naming_executor_and_field(option):
    [(field, _)] = option.items()
    with pytest.raises(FlowConfigError, match=rf"executor 'x', field '{field}': .*not supported"):
        Flow().add(uses=Tagger, name="x", **option)


def test_refused_options_at_their_default_values_are_accepted():
    Flow().add(uses=Tagger, floating=False, when=None, exit_on_exceptions=[], stateful=False).build()


def test_refused_options_in_yaml_are_refused_too():
    with pytest.raises(FlowConfigError, match=r"executor 'a', field 'floating'"):
        Flow.load_config({"jtype": "Flow", "executors": [{"name": "a", "floating": True}]})


def test_deployment_options_are_accepted_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="faasflow.flow"):
        Flow().add(uses=Tagger, name="x", port=12345, host="0.0.0.0", timeout_ready=-1).build()
    assert any("'x'" in r.getMessage() and "port" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


def test_gateway_options_are_refused_or_warned_never_dropped(caplog):
    for option, value in (("cors", True), ("uses", "MyGateway")):
        with pytest.raises(FlowConfigError, match=rf"field '{option}'.*not supported"):
            Flow(**{option: value})
    Flow(cors=False)  # Jina's default
    with caplog.at_level(logging.WARNING, logger="faasflow.flow"):
        Flow(title="Search", no_debug_endpoints=True)
    assert any("title" in r.getMessage() and "no_debug_endpoints" in r.getMessage() for r in caplog.records)


def test_disable_reduce_needs_a_join():
    with pytest.raises(FlowConfigError, match=r"executor 'x', field 'disable_reduce'"):
        Flow().add(uses=Tagger, name="x", disable_reduce=True).build()


def test_uses_requests_of_a_missing_method_is_refused():
    with pytest.raises(FlowConfigError, match=r"executor 'x', field 'uses_requests'.*nope"):
        Flow().add(uses=Tagger, name="x", uses_requests={"/index": "nope"}).build()


def test_needs_and_needs_all_add_joins():
    flow = (Flow().add(name="p1", needs="gateway").add(name="p2", needs="gateway").add(name="p3", needs="gateway")
            .needs(["p1", "p2"], name="r1").needs_all(name="r2"))
    assert flow.plan.executor("r1").needs == ("p1", "p2")
    assert flow.plan.executor("r2").needs == ("p3", "r1")
    assert Flow().add(name="a").join(["gateway", "a"]).plan.executor("joiner").needs == ("gateway", "a")


def test_a_flow_with_a_port_serves_on_it():
    from faasflow import Client
    from tests.support.conformance import free_port

    port = free_port()
    with Flow(port=port).add(uses=Tagger, name="t"), Client(port=port, return_responses=True) as client:
        [response] = client.post("/x", Document(id="d"))
    assert response.docs[0].tags == {"t": True}
