"""The test suite mirrors the package: shared helpers live in ``tests/support`` only, and no
test module (or conftest) imports another test module."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imported_test_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [n for n in names if n.startswith("tests.") and not n.startswith("tests.support")]


def test_no_test_module_imports_another():
    offenders = {
        str(path.relative_to(TESTS)): imported
        for path in sorted(TESTS.rglob("*.py"))
        if "support" not in path.relative_to(TESTS).parts and (imported := imported_test_modules(path))
    }
    assert offenders == {}, f"move what they share into tests/support: {offenders}"


def test_there_is_no_catch_all_folder():
    assert not (TESTS / "unit").exists(), "tests are grouped by the package under test, not in tests/unit"
