"""Jina's Flow equality: two Flows are equal when their options, executors and topology are."""

from __future__ import annotations

import pytest

from faasflow import Flow


def test_flow_equalities() -> None:
    f1 = Flow().add(name="executor0").add(name="executor1", needs="gateway").needs_all(name="joiner")
    f2 = Flow().add(name="executor0").add(name="executor1", needs="gateway").add(
        name="joiner", needs=["executor0", "executor1"])
    assert f1 == f2
    f2 = f2.add(name="executor0")
    assert f1 != f2


def test_implicit_and_explicit_needs_are_the_same_topology() -> None:
    assert Flow().add(name="a").add(name="b") == Flow().add(name="a", needs="gateway").add(name="b", needs=["a"])
    assert Flow().add(name="a").add(name="b", needs=["x", "a"]) == Flow().add(name="a").add(
        name="b", needs=["a", "x"])


@pytest.mark.parametrize("other", [
    Flow(name="other").add(name="a"),
    Flow().add(name="a", shards=2),
    Flow().add(name="a", uses_with={"k": 1}),
    Flow().add(name="b"),
    Flow().add(name="a").add(name="b"),
])
def test_what_defines_a_flow_makes_it_differ(other: Flow) -> None:
    assert Flow().add(name="a") != other


def test_equality_needs_no_build_and_flows_are_unhashable() -> None:
    flow = Flow().add(name="a", uses="no.such.Executor")  # never built: not resolved
    assert flow == Flow().add(name="a", uses="no.such.Executor")
    assert not flow.is_started
    assert flow != "a flow"
    with pytest.raises(TypeError):
        hash(flow)
