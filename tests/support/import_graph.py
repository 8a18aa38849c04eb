"""Every import statement of the ``faasflow`` package, read with ``ast`` (nothing is imported),
so the architecture tests can state which part of the package may depend on which."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import faasflow

PACKAGE_DIR = Path(faasflow.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent

# Where an import runs: when the module is imported, when a function is called, or never
# (``if TYPE_CHECKING:``).
Level = Literal["module", "function", "type-checking"]
_ORDER: tuple[Level, ...] = ("module", "function", "type-checking")


@dataclass(frozen=True)
class Import:
    """One imported module name, as written at ``path:line`` of ``importer``."""

    importer: str
    target: str
    path: Path
    line: int
    level: Level

    def __str__(self) -> str:
        where = "" if self.level == "module" else f" ({self.level})"
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.importer} -> {self.target}{where}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def module_files() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its ``__init__``)."""
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py")) if "__pycache__" not in path.parts}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    """Imports with where they run; ``importlib.import_module("faasflow.x")`` counts too."""

    def __init__(self, importer: str, path: Path) -> None:
        self.importer, self.path = importer, path
        self.is_package = path.name == "__init__.py"
        self.level: Level = "module"
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.AST) -> None:
        self.found.append(Import(self.importer, target, self.path, getattr(node, "lineno", 0), self.level))

    def _within(self, level: Level, nodes: Iterable[ast.AST]) -> None:
        outer = self.level
        # nesting never makes an import run sooner: the later of the two levels holds
        self.level = max(outer, level, key=_ORDER.index)
        for node in nodes:
            self.visit(node)
        self.level = outer

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            self._within("function", ast.iter_child_nodes(node))
        else:
            super().visit(node)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._within("type-checking", node.body)
            self._within(self.level, node.orelse)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._resolve(node)
        modules = module_files()
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            # ``from pkg import sub`` imports the submodule; ``from mod import name`` the module
            self._add(submodule if submodule in modules else base, node)

    def _resolve(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        package = self.importer.split(".")
        if not self.is_package:
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        return ".".join(package + ([node.module] if node.module else []))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._add(first.value, node)
        self.generic_visit(node)


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    path = module_files()[module]
    collector = _Collector(module, path)
    collector.visit(ast.parse(path.read_text(), filename=str(path)))
    return tuple(dict.fromkeys(collector.found))  # `from m import a, b` is one import of m


def all_imports() -> Iterator[Import]:
    for module in module_files():
        yield from imports_of(module)


def within(module: str, prefix: str) -> bool:
    """``module`` is ``prefix`` or inside it (``faasflow.cli`` is not inside ``faasflow.c``)."""
    return module == prefix or module.startswith(prefix + ".")


def violations(importers: str | tuple[str, ...], forbidden: Iterable[str], *, exempt: Iterable[str] = ()) -> list[str]:
    """The imports, at any level, from modules under ``importers`` of modules under ``forbidden``."""
    importers = (importers,) if isinstance(importers, str) else importers
    forbidden, exempt = tuple(forbidden), tuple(exempt)
    return [
        str(found)
        for found in all_imports()
        if any(within(found.importer, p) for p in importers)
        and not any(within(found.importer, p) for p in exempt)
        and any(within(found.target, p) for p in forbidden)
    ]


def module_graph() -> dict[str, dict[str, Import]]:
    """Module-level imports between the package's own modules: importer -> target -> where."""
    modules = module_files()
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for found in all_imports():
        if found.level == "module" and found.target in modules and found.target != found.importer:
            graph[found.importer].setdefault(found.target, found)
    return graph


def import_cycles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan), each
    sorted; a module importing itself at module level is no cycle worth reporting."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(components)


def shortest_cycle(graph: dict[str, dict[str, Import]], component: list[str]) -> list[Import]:
    """One shortest circle through the component's first module, as the imports that make it."""
    start, members = component[0], set(component)
    paths: dict[str, list[Import]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, found in sorted(graph[node].items()):
                if target not in members:
                    continue
                if target == start:
                    return [*paths[node], found]
                if target not in paths:
                    paths[target] = [*paths[node], found]
                    following.append(target)
        frontier = following
    return []
