"""Jina 3's post rules, in every mode (embedded, served, simulated): what post returns with
and without callbacks, which callback runs when, continue_on_error, request_size, and what
a join gets (docs_matrix, docs_map, disable_reduce); uses_requests remaps endpoints."""

from __future__ import annotations

import pytest

from faasflow import Document, DocumentArray, Executor, Flow, requests
from faasflow.errors import BadClientCallback, BadInputError, FlowError


class FailOn(Executor):
    """Fails the batch holding a doc whose id is in ``parameters['fail']``."""

    @requests
    def run(self, docs, parameters, **kwargs):
        if any(doc.id in (parameters.get("fail") or []) for doc in docs):
            raise ValueError("asked to fail")
        for doc in docs:
            doc.tags["seen"] = True


class Text(Executor):
    def __init__(self, text: str = "", **kwargs):
        super().__init__(**kwargs)
        self.text = text

    @requests
    def run(self, docs, **kwargs):
        for doc in docs:
            doc.tags[self.text] = True


class Matrix(Executor):
    """Answers with one doc describing what the join got."""

    @requests
    def run(self, docs, docs_matrix, docs_map, **kwargs):
        return DocumentArray([Document(id="report", tags={
            "docs": len(docs), "matrix": [len(m) for m in docs_matrix or []],
            "map": sorted(docs_map or {}), "ids": list(docs.ids)})])


class Renamed(Executor):
    @requests(on="/foo")
    def foo(self, docs, **kwargs):
        for doc in docs:
            doc.text = "foo"

    def bar(self, docs, **kwargs):
        for doc in docs:
            doc.text = "bar"


def ten() -> list[Document]:
    return [Document(id=str(i)) for i in range(10)]


def test_post_returns_the_docs_without_callbacks(run_flow):
    docs = run_flow(Flow().add(uses=FailOn), "/x", ten(), request_size=3)
    assert docs.ids == [str(i) for i in range(10)] and all(d.tags["seen"] for d in docs)


@pytest.mark.parametrize("callback", ["on_done", "on_always"])
def test_post_with_on_done_or_on_always_returns_none(run_flow, callback):
    seen = []
    assert run_flow(Flow().add(uses=FailOn), "/x", ten(), request_size=4, **{callback: seen.append}) is None
    assert [len(r.docs) for r in seen] == [4, 4, 2]


def test_post_with_on_error_only_still_returns_the_docs(run_flow):
    errors = []
    docs = run_flow(Flow().add(uses=FailOn), "/x", ten(), parameters={"fail": ["5"]}, request_size=4,
                    on_error=errors.append)
    assert len(errors) == 1 and isinstance(errors[0].error, FlowError)
    assert docs.ids == ["0", "1", "2", "3", "8", "9"]  # the failed batch's answer carries no docs


def test_return_responses_gives_one_response_per_batch(run_flow):
    responses = run_flow(Flow().add(uses=FailOn), "/x", ten(), request_size=5, return_responses=True)
    assert [len(r.docs) for r in responses] == [5, 5]
    assert all(r.header.status.code == 0 for r in responses)


def test_request_size_zero_sends_everything_in_one_request(run_flow):
    responses = run_flow(Flow().add(uses=FailOn), "/x", ten(), request_size=0, return_responses=True)
    assert [len(r.docs) for r in responses] == [10]


def test_a_failure_without_on_error_raises_before_on_always(run_flow):
    always = []
    with pytest.raises(FlowError, match="asked to fail"):
        run_flow(Flow().add(uses=FailOn), "/x", ten(), parameters={"fail": ["0"]}, request_size=5,
                 on_always=always.append)
    assert always == []  # Jina raises the failed batch before its on_always


def test_continue_on_error_logs_the_failure_and_goes_on(run_flow):
    done, always = [], []
    assert run_flow(Flow().add(uses=FailOn), "/x", ten(), parameters={"fail": ["0"]}, request_size=5,
                    continue_on_error=True, on_done=done.append, on_always=always.append) is None
    assert [len(r.docs) for r in done] == [5] and len(always) == 2
    docs = run_flow(Flow().add(uses=FailOn), "/x", ten(), parameters={"fail": ["0"]}, request_size=5,
                    continue_on_error=True)
    assert docs.ids == ["5", "6", "7", "8", "9"]


def test_a_raising_callback_is_a_bad_client_callback(run_flow):
    def broken(response):
        raise KeyError("oops")

    with pytest.raises(BadClientCallback, match="broken"):
        run_flow(Flow().add(uses=FailOn), "/x", ten(), on_done=broken)


def test_continue_on_error_also_covers_a_raising_callback(run_flow):
    def broken(response):
        raise KeyError("oops")

    assert run_flow(Flow().add(uses=FailOn), "/x", ten(), request_size=5, on_done=broken,
                    continue_on_error=True) is None


def test_results_in_order_and_transport_options_are_accepted(run_flow):
    docs = run_flow(Flow().add(uses=FailOn), "/x", ten(), request_size=2, results_in_order=True, stream=False,
                    prefetch=10)
    assert docs.ids == [str(i) for i in range(10)]


def test_an_unknown_post_option_is_refused(run_flow):
    with pytest.raises(BadInputError, match="no_such_option"):
        run_flow(Flow().add(uses=FailOn), "/x", ten(), no_such_option=1)


def join_flow(**join_options) -> Flow:
    return (Flow().add(uses=Text, uses_with={"text": "a"}, name="a")
            .add(uses=Text, uses_with={"text": "b"}, name="b", needs="gateway")
            .add(uses=Matrix, name="join", needs=["a", "b"], **join_options))


def test_a_join_gets_reduced_docs_and_its_needs_matrix_and_map(run_flow):
    [report] = run_flow(join_flow(), "/x", [Document(id="1"), Document(id="2")])
    assert report.tags["docs"] == 2 and report.tags["matrix"] == [2, 2] and report.tags["map"] == ["a", "b"]


def test_disable_reduce_gives_the_join_every_needs_docs_concatenated(run_flow):
    [report] = run_flow(join_flow(disable_reduce=True), "/x", [Document(id="1"), Document(id="2")])
    assert report.tags["docs"] == 4 and report.tags["matrix"] == [2, 2]
    assert report.tags["ids"] == ["1", "2", "1", "2"]


def test_uses_requests_remaps_endpoints(run_flow):
    flow = Flow().add(uses=Renamed, name="r", uses_requests={"/bar": "bar", "/moved": "foo"})
    assert run_flow(flow, "/bar", Document(id="d"))[0].text == "bar"
    assert run_flow(Flow().add(uses=Renamed, name="r", uses_requests={"/bar": "bar", "/moved": "foo"}),
                    "/moved", Document(id="d"))[0].text == "foo"
    assert sorted(flow.plan.served_endpoints) == ["/bar", "/moved"]  # foo left /foo, as in Jina
