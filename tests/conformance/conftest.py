"""The conformance suite's shared state: a payload store for the simulated state machine,
and how many generated cases ran and for how long (printed at the end of the run)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.payloads import payload_store  # noqa: F401  (session-wide, autouse)

STATS_KEY = pytest.StashKey["ConformanceStats"]()


@dataclass
class ConformanceStats:
    """Generated Flows and requests run in all three modes, and the seconds it took."""

    flows: int = 0
    requests: int = 0
    seconds: float = 0.0


@pytest.fixture(scope="session")
def conformance_stats(request: pytest.FixtureRequest) -> ConformanceStats:
    return request.config.stash.setdefault(STATS_KEY, ConformanceStats())



@pytest.fixture
def timed(conformance_stats: ConformanceStats) -> Iterator[None]:
    started = time.perf_counter()
    yield
    conformance_stats.seconds += time.perf_counter() - started


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    stats = config.stash.get(STATS_KEY, None)
    if stats is None or not stats.flows:
        return
    terminalreporter.write_line(
        f"conformance: {stats.flows} generated Flows, {stats.requests} requests, each embedded, served "
        f"and simulated, in {stats.seconds:.1f} s")
