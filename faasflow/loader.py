"""Resolving ``uses``: an Executor class, ``'module.Class'``, ``'path/file.py:Class'`` or a
class name already imported (for instance through ``py_modules``)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from faasflow.errors import FlowConfigError
from faasflow.executor import EXECUTOR_CLASSES, Executor


def import_file(path: str | Path) -> object:
    """Import a Python file as a module (once), keyed by its absolute path."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no such Python file: {path}")
    module_name = "faasflow_user_" + path.stem + "_" + hashlib.md5(str(path).encode()).hexdigest()[:8]
    module = sys.modules.get(module_name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def import_py_modules(paths: list[str], base_dir: Path | None, executor: str) -> None:
    for entry in paths:
        path = Path(entry)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            if path.suffix == ".py" or path.exists():
                import_file(path)
            else:
                importlib.import_module(entry)
        except Exception as exc:  # noqa: BLE001 - any import failure becomes a config error
            raise FlowConfigError(
                f"cannot import {entry!r}: {type(exc).__name__}: {exc}", executor=executor, field="py_modules"
            ) from exc


def resolve_uses(uses: object, executor: str, base_dir: Path | None = None) -> type[Executor]:
    """The Executor class that ``uses`` names, or a FlowConfigError naming the executor."""
    if isinstance(uses, type):
        if issubclass(uses, Executor):
            return uses
        raise FlowConfigError(f"{uses.__name__} is not an Executor subclass", executor=executor, field="uses")
    if not isinstance(uses, str) or not uses:
        raise FlowConfigError(
            f"expected an Executor class or an import string, got {uses!r}", executor=executor, field="uses"
        )
    try:
        cls = _resolve_string(uses, base_dir)
    except FlowConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise FlowConfigError(
            f"cannot load {uses!r}: {type(exc).__name__}: {exc}", executor=executor, field="uses"
        ) from exc
    if cls is None:
        raise FlowConfigError(
            f"cannot find executor {uses!r}: give a class, 'package.module.Class', "
            "'path/to/file.py:Class', or a class name imported through py_modules",
            executor=executor,
            field="uses",
        )
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise FlowConfigError(f"{uses!r} is not an Executor subclass", executor=executor, field="uses")
    return cls


def _resolve_string(uses: str, base_dir: Path | None) -> object | None:
    if ":" in uses and uses.split(":", 1)[0].endswith(".py"):
        file_part, class_name = uses.rsplit(":", 1)
        path = Path(file_part)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = base_dir / path
        return getattr(import_file(path), class_name, None)
    if "." in uses:
        module_name, class_name = uses.rsplit(".", 1)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None
            raise
        return getattr(module, class_name, None)
    return EXECUTOR_CLASSES.get(uses)
