"""Disagreements between the modes that generated cases once found, each minimised to a
small example and kept here as a regression test now that the modes agree on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from faasflow import Document, DocumentArray, codec
from faasflow.errors import BadInputError
from tests.support.conformance import ExecutorCase, FlowCase, Outcome, RequestCase, three_modes


def outcomes_of(case: FlowCase, request: RequestCase, tmp_path: Path) -> dict[str, Outcome]:
    with three_modes(case, tmp_path) as modes:
        outcomes = modes.outcomes(request)
    assert outcomes["embedded"] == outcomes["served"] == outcomes["simulated"], outcomes
    return outcomes


@pytest.fixture
def one_doc() -> Iterator[DocumentArray]:
    yield DocumentArray([Document(id="a", matches=[Document(id="m", scores={"cosine": 1.0})])])


def test_polling_named_for_an_endpoint_only_a_default_method_serves(tmp_path: Path) -> None:
    """The compiled routes give such an endpoint a route of its own, with the polling the
    executor names for it (ALL here: every shard runs, so shard 1's failure is seen)."""
    case = FlowCase((ExecutorCase("t", "Tagger", shards=2, polling={"/search": "ALL", "*": "ANY"}),))
    outcome = outcomes_of(case, RequestCase("/search", DocumentArray(), {"t": {"fail": "raise", "fail_shard": 1}}),
                          tmp_path)["simulated"]
    assert outcome.error is not None and outcome.error[:2] == ("t", 1)


def test_docs_sharing_one_matches_list_in_an_all_stage(tmp_path: Path, one_doc: DocumentArray) -> None:
    """The merge gives a doc met again a new matches list: docs that shared one keep theirs."""
    case = FlowCase((ExecutorCase("r", "Replacer", {"fanout": 2, "share_matches": True}, shards=2,
                                  polling="ALL"),))
    outcomes_of(case, RequestCase("/search", one_doc, {}), tmp_path)


def test_a_numpy_integer_limit(tmp_path: Path) -> None:
    """Parameters reach every mode in their wire form: a numpy integer limit is a limit."""
    case = FlowCase((ExecutorCase("m", "Matcher", {"k": 3}, shards=2, polling="ALL"),))
    outcome = outcomes_of(case, RequestCase("/search", DocumentArray([Document(id="a")]), {"limit": np.int64(1)}),
                          tmp_path)["embedded"]
    assert len(outcome.docs[0]["matches"]) == 1


def test_a_non_native_byte_order_array_is_carried_alike(tmp_path: Path) -> None:
    case = FlowCase((ExecutorCase("t", "Tagger"),))
    docs = DocumentArray([Document(id="a", tags={"big": np.arange(3, dtype=">i4"), "f": np.float32(0.1)})])
    outcome = outcomes_of(case, RequestCase("/other", docs, {}), tmp_path)["embedded"]
    assert outcome.error is None
    assert outcome.docs[0]["tags"]["big"] == [0, 1, 2] and outcome.docs[0]["tags"]["f"] == 0.1


def test_a_long_double_tag_is_refused() -> None:
    with pytest.raises(BadInputError, match=r"document 'a' tags.x: a numpy float128 cannot be sent as JSON"):
        codec.check_wire_value(np.longdouble(1.5), "document 'a' tags.x")
