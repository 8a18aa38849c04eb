"""Flow YAML in Jina's format: ``jtype: Flow``, ``with:`` for Flow options, ``executors:``.

Reads into and writes from plain data (``FlowConfig``, a Plan): the Flow builds itself
from it, so this module never needs the Flow class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faasflow.errors import FlowConfigError
from faasflow.executor import PassThrough
from faasflow.flow_fields import (
    ADD_FIELDS,
    FLOW_FIELDS,
    JINA_IGNORED,
    JINA_TOP_LEVEL_IGNORED,
    TOP_LEVEL_KEYS,
    check_protocol,
)
from faasflow.plan import DEFAULT_IDEMPOTENCY_TTL_S, Plan, uses_reference
from faasflow.runtimes import DEFAULT_RUNTIME


@dataclass(frozen=True)
class FlowConfig:
    """A validated Flow file: ``Flow(**options)``, then ``add(**entry)`` per executor entry."""

    options: Mapping[str, Any]
    base_dir: Path | None
    executors: tuple[Mapping[str, Any], ...]


def _read(source: str | Path | Mapping[str, Any]) -> tuple[Mapping[str, Any], Path | None]:
    import yaml

    if isinstance(source, Mapping):
        return source, None
    text = str(source)
    path = Path(text)
    file: str | None = None
    if isinstance(source, Path) or ("\n" not in text and path.suffix in (".yml", ".yaml", ".json")):
        if not path.is_file():
            raise FlowConfigError(f"no such Flow file: {text}")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise FlowConfigError(f"cannot read the Flow file {path}: {exc}") from None
        base_dir, file = path.resolve().parent, str(path)
    else:
        base_dir = None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FlowConfigError(_yaml_error(file, exc)) from None
    if not isinstance(data, Mapping):
        where = f"{file}: " if file else ""
        raise FlowConfigError(f"{where}the Flow YAML must be a mapping with 'jtype: Flow' and 'executors:'")
    return data, base_dir


def _yaml_error(file: str | None, exc: Exception) -> str:
    """One line for a YAML syntax error: where (``file:line:column``, 1-based as editors
    count) and what, without PyYAML's multi-line excerpt of the file."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or _first_line(str(exc))
    context = getattr(exc, "context", None)
    detail = f"{problem} ({context})" if context else problem
    if mark is None:
        return f"{file + ': ' if file else ''}the Flow YAML does not parse: {detail}"
    if file:
        return f"{file}:{mark.line + 1}:{mark.column + 1}: the Flow YAML does not parse: {detail}"
    return f"the Flow YAML does not parse (line {mark.line + 1}, column {mark.column + 1}): {detail}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _check_top_level(data: Mapping[str, Any]) -> None:
    """Refuse keys a Flow file does not have (``executorz:``): ignoring them would run a
    Flow other than the one written."""
    unknown = sorted(str(key) for key in data if key not in TOP_LEVEL_KEYS and key not in JINA_TOP_LEVEL_IGNORED)
    if unknown:
        error = FlowConfigError(
            f"unknown top-level key(s) {', '.join(repr(k) for k in unknown)}; known: {', '.join(TOP_LEVEL_KEYS)} "
            "(Flow options go under 'with:')"
        )
        error.field = unknown[0]
        raise error


def _flow_options(data: Mapping[str, Any]) -> dict[str, Any]:
    jtype = data.get("jtype", "Flow")
    if jtype != "Flow":
        raise FlowConfigError(f"expected 'jtype: Flow', got {jtype!r}", field="jtype")
    options = data.get("with") or {}
    if not isinstance(options, Mapping):
        raise FlowConfigError("'with' must be a mapping of Flow options", field="with")
    flow_options = {k: v for k, v in options.items() if k in FLOW_FIELDS or k in JINA_IGNORED}
    unknown = sorted(set(options) - set(flow_options))
    if unknown:
        raise FlowConfigError(f"unknown Flow option(s) under 'with': {', '.join(unknown)}", field=unknown[0])
    check_protocol(flow_options.get("protocol"))
    return flow_options


def _executor_entry(position: int, entry: Any) -> dict[str, Any]:
    """One ``executors:`` entry as ``Flow.add`` keywords (Jina's nested ``uses:`` flattened)."""
    if not isinstance(entry, Mapping):
        raise FlowConfigError(f"executor entry {position} must be a mapping", field="executors")
    entry = dict(entry)
    name = entry.get("name", f"executor{position}")
    # ``uses: {jtype: MyExecutor, with: {...}, metas: {py_modules: [...]}, requests: {...}}``,
    # YAML text or an executor YAML file stay as written: the Plan reads them (plan.build_spec)
    unknown = sorted(set(entry) - set(ADD_FIELDS) - JINA_IGNORED)
    if unknown:
        raise FlowConfigError(
            f"unknown field(s) {', '.join(unknown)}; known: {', '.join(ADD_FIELDS)}",
            executor=str(name),
            field=unknown[0],
        )
    return {k: v for k, v in entry.items() if k in ADD_FIELDS or k in JINA_IGNORED}  # Flow.add checks Jina's


def read_flow_config(source: str | Path | Mapping[str, Any]) -> FlowConfig:
    """A Flow file (path, YAML text or mapping), checked; a FlowConfigError names the field
    (and the executor) at fault."""
    data, base_dir = _read(source)
    _check_top_level(data)
    options = _flow_options(data)
    executors = data.get("executors") or []
    if not isinstance(executors, list):
        raise FlowConfigError("'executors' must be a list", field="executors")
    entries = tuple(_executor_entry(position, entry) for position, entry in enumerate(executors))
    return FlowConfig(options=options, base_dir=base_dir, executors=entries)


def config_to_dict(options: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    """The Jina-style YAML mapping of a Flow: its ``options`` (FLOW_FIELDS values; unset
    ones left out) and its compiled ``plan``'s executors, defaults left out."""
    written: dict[str, Any] = {"name": options["name"]}
    for key in ("protocol", "port", "workspace", "auth"):
        value = options.get(key)
        if value is not None:
            written[key] = value
    if options.get("tracing"):
        written["tracing"] = True
    if options.get("idempotency_ttl_s", plan.idempotency_ttl_s) != DEFAULT_IDEMPOTENCY_TTL_S:
        written["idempotency_ttl_s"] = plan.idempotency_ttl_s
    if plan.runtime != DEFAULT_RUNTIME:
        written["runtime"] = plan.runtime
    if plan.rollout is not None:
        written["deploy"] = plan.rollout.as_option()
    if not plan.monitoring:
        written["monitoring"] = False
    executors = []
    for spec in plan.executors:
        entry: dict[str, Any] = {"name": spec.name}
        if spec.cls is not PassThrough:  # no ``uses``: Jina's BaseExecutor, a pass-through
            entry["uses"] = uses_reference(spec.uses)
        if spec.uses_with:
            entry["uses_with"] = dict(spec.uses_with)
        if spec.py_modules:
            entry["py_modules"] = list(spec.py_modules)
        if spec.shards != 1:
            entry["shards"] = spec.shards
        polling = spec.polling.to_config()
        if polling != "ANY":
            entry["polling"] = polling
        for helper in ("uses_before", "uses_after"):
            helper_spec = getattr(spec, helper)
            if helper_spec is not None:
                entry[helper] = _helper_entry(helper_spec)
        entry["needs"] = list(spec.needs) if len(spec.needs) > 1 else spec.needs[0]
        if spec.disable_reduce:
            entry["disable_reduce"] = True
        if spec.uses_requests:
            entry["uses_requests"] = dict(spec.uses_requests)
        for key, default in (("replicas", 1), ("memory", None), ("timeout", None), ("package", "zip"), ("gpu", False)):
            value = getattr(spec, key)
            if value != default:
                entry[key] = value
        executors.append(entry)
    return {"jtype": "Flow", "version": "1", "with": written, "executors": executors}


def _helper_entry(spec: Any) -> Any:
    """A uses_before/uses_after as written back: its reference, or Jina's mapping form
    when it has ``with`` keywords, ``requests`` or ``py_modules``."""
    if not (spec.uses_with or spec.uses_requests or spec.py_modules):
        return spec.uses
    mapping: dict[str, Any] = {"jtype": spec.uses}
    if spec.uses_with:
        mapping["with"] = dict(spec.uses_with)
    if spec.py_modules:
        mapping["metas"] = {"py_modules": list(spec.py_modules)}
    if spec.uses_requests:
        mapping["requests"] = dict(spec.uses_requests)
    return mapping
