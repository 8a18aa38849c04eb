"""Resolving ``uses``: an Executor class, ``'module.Class'``, ``'path/file.py:Class'`` or a
class name already imported (for instance through ``py_modules``); and Jina's executor YAML
(``jtype``, ``with``, ``metas``, ``requests``), as a file, text or mapping."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# --- Jina's executor YAML: ``jtype``/``with``/``metas``/``requests`` (and ``!Class`` tags) ---

EXECUTOR_CONFIG_KEYS = ("jtype", "with", "metas", "requests", "py_modules")
YAML_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class ExecutorConfig:
    """An executor's Jina YAML, read: the class name (``jtype``), its ``with`` keywords,
    ``metas``, ``requests`` (endpoint -> method name) and ``py_modules`` (paths resolved
    against the YAML file's folder, or ``base_dir`` for text and mappings)."""

    jtype: str
    uses_with: dict[str, Any]
    metas: dict[str, Any]
    requests: dict[str, str]
    py_modules: tuple[str, ...]
    base_dir: Path | None


def is_executor_config(uses: object) -> bool:
    """Whether ``uses`` is Jina's executor YAML: a mapping with ``jtype``, YAML text, or a
    path to a ``.yml``/``.yaml`` file."""
    if isinstance(uses, Mapping):
        return True
    if not isinstance(uses, (str, Path)):
        return False
    text = str(uses)
    if "\n" in text or text.lstrip().startswith(("!", "jtype:")):
        return True
    return Path(text).suffix.lower() in YAML_SUFFIXES


def _tag_loader() -> type:
    """A safe YAML loader that reads Jina's ``!ClassName`` tag as ``jtype: ClassName``."""
    import yaml

    class JinaTagLoader(yaml.SafeLoader):
        pass

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return {"jtype": suffix, **loader.construct_mapping(node, deep=True)}
        if isinstance(node, yaml.ScalarNode) and not loader.construct_scalar(node):
            return {"jtype": suffix}
        raise yaml.constructor.ConstructorError(None, None, f"!{suffix} tags a mapping, not a {node.id}",
                                                node.start_mark)

    JinaTagLoader.add_multi_constructor("!", tagged)
    return JinaTagLoader


def read_executor_config(source: object, executor: str, base_dir: Path | None = None,
                         field: str = "uses") -> ExecutorConfig:
    """Jina's executor YAML (a path, YAML text or a mapping), checked; a FlowConfigError
    names ``executor`` and ``field``."""
    import yaml

    def refuse(message: str) -> FlowConfigError:
        return FlowConfigError(message, executor=executor, field=field)

    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        text = str(source)
        if "\n" not in text and Path(text).suffix.lower() in YAML_SUFFIXES:
            path = Path(text)
            if not path.is_absolute() and base_dir is not None and not path.exists():
                path = base_dir / path
            if not path.is_file():
                raise refuse(f"no such executor YAML file: {text}")
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise refuse(f"cannot read the executor YAML {path}: {exc}") from None
            base_dir = path.resolve().parent
        try:
            data = yaml.load(text, Loader=_tag_loader())  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise refuse(f"the executor YAML does not parse: {_first_line(str(exc))}") from None
    if not isinstance(data, Mapping):
        raise refuse(f"an executor YAML is a mapping with 'jtype' (or a !Class tag), got {data!r}")
    unknown = sorted(str(k) for k in data if k not in EXECUTOR_CONFIG_KEYS)
    if unknown:
        raise refuse(f"unknown key(s) {', '.join(repr(k) for k in unknown)} in the executor YAML; "
                     f"known: {', '.join(EXECUTOR_CONFIG_KEYS)}")
    jtype = data.get("jtype")
    if not isinstance(jtype, str) or not jtype:
        raise refuse(f"the executor YAML needs 'jtype: ClassName' (or a !ClassName tag), got {jtype!r}")
    parts: dict[str, dict[str, Any]] = {}
    for key in ("with", "metas", "requests"):
        value = data.get(key) or {}
        if not isinstance(value, Mapping):
            raise refuse(f"'{key}' in the executor YAML must be a mapping, got {value!r}")
        parts[key] = dict(value)
    for endpoint, method in parts["requests"].items():
        if not isinstance(endpoint, str) or not isinstance(method, str):
            raise refuse(f"'requests' maps endpoints to method names, got {endpoint!r}: {method!r}")
    py_modules: list[str] = []
    for entry in (data.get("py_modules"), parts["metas"].pop("py_modules", None)):
        if entry:
            py_modules.extend([entry] if isinstance(entry, str) else list(entry))
    resolved = tuple(_module_path(str(p), base_dir) for p in py_modules)
    return ExecutorConfig(jtype=jtype, uses_with=parts["with"], metas=parts["metas"], requests=parts["requests"],
                          py_modules=resolved, base_dir=base_dir)


def _module_path(entry: str, base_dir: Path | None) -> str:
    """A ``py_modules`` entry: a file path made absolute against ``base_dir``; a module
    name as it is."""
    path = Path(entry)
    if path.is_absolute() or base_dir is None:
        return entry
    candidate = base_dir / path
    if path.suffix == ".py" or candidate.exists():
        return str(candidate)
    return entry


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def config_class(config: ExecutorConfig, executor: str, field: str = "uses",
                 caller: str | None = None) -> tuple[type[Executor], str]:
    """The class an executor YAML names, its ``py_modules`` imported first, and the
    reference a serverless build imports it by: ``path/file.py:Class`` when the class is
    defined in one of its ``py_modules`` files, else the class's module path. A bare class
    name is looked up in the ``caller`` module first (where the YAML was given), then
    among every imported Executor class."""
    if config.py_modules:
        import_py_modules(list(config.py_modules), None, executor)
    module = sys.modules.get(caller) if caller else None
    local = getattr(module, config.jtype, None) if module is not None and not config.py_modules else None
    try:
        if isinstance(local, type) and issubclass(local, Executor):
            cls = local
        else:
            cls = resolve_uses(config.jtype, executor, config.base_dir)
    except FlowConfigError as exc:
        prefix = str(FlowConfigError("", executor=exc.executor, field=exc.field))
        raise FlowConfigError(str(exc).removeprefix(prefix), executor=executor, field=field) from None
    for entry in config.py_modules:
        if entry.endswith(".py") and Path(entry).is_file() and getattr(import_file(entry), cls.__name__, None) is cls:
            return cls, f"{entry}:{cls.__name__}"
    if "." in config.jtype or ":" in config.jtype:
        return cls, config.jtype
    return cls, f"{cls.__module__}.{cls.__qualname__}"
