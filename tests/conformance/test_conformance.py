"""The same Flow and documents give the same answer embedded, served over HTTP and through
the simulated state machine: generated Flows (chains, joins, 1-4 shards, ANY/ALL polling
per endpoint; executors that edit in place, replace, return results or fail) and
generated documents, compared in wire form."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.conformance import FlowCase, Outcome, flow_cases, requests_for, three_modes

CONFORMANCE = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                              HealthCheck.function_scoped_fixture])


def first_difference(left: Any, right: Any, path: str = "") -> str | None:
    """Where two wire-form answers first differ, and how: a long answer's difference is
    easier to read than both answers."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right), key=str):
            if key not in left or key not in right:
                return f"{path}.{key}: only in {'the first' if key in left else 'the second'}"
            found = first_difference(left[key], right[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        for position, (a, b) in enumerate(zip(left, right)):
            found = first_difference(a, b, f"{path}[{position}]")
            if found:
                return found
        return None if len(left) == len(right) else f"{path}: {len(left)} items against {len(right)}"
    return None if left == right else f"{path}: {str(left)[:300]} != {str(right)[:300]}"


def describe(outcomes: dict[str, Outcome]) -> str:
    embedded = outcomes["embedded"]
    lines = [f"  {mode}: {str(outcome)[:2000]}" for mode, outcome in outcomes.items()]
    for mode in ("served", "simulated"):
        other = outcomes[mode]
        found = first_difference(dataclasses.asdict(embedded), dataclasses.asdict(other))
        if found:
            lines.append(f"  embedded against {mode}, first difference at {found}")
    return "\n".join(lines)


@pytest.mark.usefixtures("timed")
@CONFORMANCE
@given(case=flow_cases(), data=st.data())
def test_every_mode_gives_the_same_answer(case: FlowCase, data: st.DataObject, conformance_stats,
                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    requests = data.draw(requests_for(case), label="requests")
    conformance_stats.flows += 1
    storage: Path = tmp_path_factory.mktemp("executors")
    with three_modes(case, storage) as modes:
        for number, request in zip(itertools.count(), requests):
            outcomes = modes.outcomes(request)
            conformance_stats.requests += 1
            where = f"Flow: {case.describe()}\nrequest {number}: {request.endpoint} {request.parameters}"
            assert outcomes["embedded"] == outcomes["served"] == outcomes["simulated"], (
                f"{where}\n{describe(outcomes)}")
