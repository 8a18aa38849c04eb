"""No import circle among the package's module-level imports: a circle makes the import
order matter (a half-initialised module, an ImportError depending on which was first) and
ties parts together that should each stand alone. Imports inside functions and under
``if TYPE_CHECKING:`` are the ways out of a circle, so they are not counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.import_graph import Import, import_cycles, module_graph, shortest_cycle


def test_the_cycle_finder_finds_cycles() -> None:
    """A finder that never finds one would pass the test below."""
    edge = Import("x", "y", Path(__file__), 1, "module")
    graph: dict[str, dict[str, Import]] = {
        "a": {"b": edge},
        "b": {"c": edge},
        "c": {"a": edge, "d": edge},
        "d": {},
        "e": {"a": edge},
    }
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert len(shortest_cycle(graph, ["a", "b", "c"])) == 3


def test_no_import_cycles() -> None:
    graph = module_graph()
    cycles = import_cycles(graph)
    if cycles:
        report = []
        for component in cycles:
            report.append(f"circle among {', '.join(component)}; for instance:")
            report.extend(f"    {found}" for found in shortest_cycle(graph, component))
        pytest.fail(f"{len(cycles)} import circle(s) at module level:\n" + "\n".join(report), pytrace=False)
