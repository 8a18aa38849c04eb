"""Which part of faasflow may depend on which, by when the code runs: the core and
``faasflow.runtime`` ship in the Lambda layer and must work without the build-time parts
(compiler, deploy tools, CLI, testing helpers) that stay on the developer's machine.

Imports are read with ``ast``, at every level (module, function, ``if TYPE_CHECKING:``)
unless a rule says otherwise, so a late import cannot slip a dependency past them."""

from __future__ import annotations

import pytest

from faasflow.deploy.layers import NOT_IN_LAYER
from tests.support.import_graph import all_imports, module_files, violations, within

# The parts that run before a function is deployed (build time and the operator's machine).
BUILD_TIME = (
    "faasflow.compiler",
    "faasflow.deploy",
    "faasflow.commands",
    "faasflow.testing",
    "faasflow.cost",
    "faasflow.cli",
    "faasflow.scaffold",
    "faasflow.__main__",
)


def _fail_on(found: list[str], rule: str) -> None:
    if found:
        pytest.fail(f"{rule}:\n  " + "\n  ".join(found), pytrace=False)


def test_the_scan_sees_the_package() -> None:
    """A scan that found nothing would pass every rule below."""
    modules = module_files()
    assert {"faasflow", "faasflow.runtime.handler", "faasflow.compiler.asl", "faasflow.cli"} <= set(modules)
    assert any(found.level == "function" for found in all_imports())
    assert any(found.level == "type-checking" for found in all_imports())


def test_build_time_parts_are_exactly_what_the_layer_leaves_out() -> None:
    """The rules here and the layer staging agree on what is build time."""
    left_out = {"faasflow." + name.removesuffix(".py") for name in NOT_IN_LAYER}
    assert left_out == set(BUILD_TIME)


def test_runtime_imports_no_build_time_part() -> None:
    """What runs inside Lambda/SageMaker finds none of these in the layer."""
    _fail_on(violations("faasflow.runtime", BUILD_TIME), "faasflow.runtime imports build-time code")


def test_layer_code_imports_nothing_left_out_of_the_layer() -> None:
    """Everything the layer ships (core, runtime, serve, executors) runs without the parts
    ``stage_layers`` leaves out; only imports that never run (TYPE_CHECKING) are allowed."""
    found = [
        str(i)
        for i in all_imports()
        if i.level != "type-checking"
        and within(i.importer, "faasflow")
        and not any(within(i.importer, part) for part in BUILD_TIME)
        and any(within(i.target, part) for part in BUILD_TIME)
    ]
    _fail_on(found, "code shipped in the layer imports code left out of it")


def test_only_testing_imports_testing() -> None:
    _fail_on(
        violations("faasflow", ["faasflow.testing"], exempt=["faasflow.testing"]),
        "faasflow.testing (emulator helpers) is imported by the package",
    )


def test_compiler_imports_only_core_and_itself() -> None:
    """The compiler is pure build time: Plan -> files. It reads the core (plan, wire,
    codec, errors, ...) but never the runtime's entry points, the deploy tools or the CLI."""
    not_core = tuple(part for part in BUILD_TIME if part != "faasflow.compiler") + ("faasflow.runtime",)
    _fail_on(violations("faasflow.compiler", not_core), "faasflow.compiler imports beyond the core")


def test_serve_does_not_import_flow() -> None:
    """The gateway app serves any Backend; the Flow class is one, plugged in by its caller
    (``faasflow serve``, ``Flow.serve``): serve importing flow makes a circle of them."""
    _fail_on(violations("faasflow.serve", ["faasflow.flow"]), "faasflow.serve imports faasflow.flow")
