"""A Plan described for people: as plain data (``/status``), as text and as a Mermaid diagram
(``faasflow show``). One description, so the gateway and the command line never disagree."""

from __future__ import annotations

from typing import Any

from faasflow.executor import DEFAULT_ENDPOINT
from faasflow.plan import GATEWAY, ExecutorSpec, Plan

ANSWER = "answer"


def endpoints_of(spec: ExecutorSpec) -> list[str]:
    """The endpoints an executor binds; with a default binding it also serves every other one."""
    return spec.cls.endpoints()


def polling_of(spec: ExecutorSpec, endpoints: list[str]) -> dict[str, str]:
    """The polling mode per endpoint of the Flow, plus ``*`` for any other endpoint."""
    modes = {endpoint: spec.polling.mode(endpoint) for endpoint in endpoints}
    modes["*"] = spec.polling.default
    return modes


def describe(plan: Plan) -> dict[str, Any]:
    """The topology as JSON-ready data: executors in run order, shards, polling, needs."""
    served = plan.served_endpoints
    return {
        "name": plan.name,
        "endpoints": served,
        "executors": [
            {
                "name": spec.name,
                "uses": spec.uses,
                "shards": spec.shards,
                "replicas": spec.replicas,
                "needs": list(spec.needs),
                "endpoints": endpoints_of(spec),
                "polling": polling_of(spec, served),
                **_helpers_of(spec),
            }
            for spec in plan.executors
        ],
        "answer": list(plan.sinks),
    }


def _helpers_of(spec: ExecutorSpec) -> dict[str, str]:
    """Its ``uses_before``/``uses_after`` references, only those it has (so that the
    description of a Flow without them stays as it was)."""
    return {role: helper.uses for role in ("uses_before", "uses_after")
            if (helper := getattr(spec, role)) is not None}


def render_text(plan: Plan) -> str:
    """The topology as indented text, one executor per block."""
    served = plan.served_endpoints
    width = max(len(spec.name) for spec in plan.executors)
    lines = [f"Flow {plan.name!r}: {len(plan.executors)} executor(s), endpoints {', '.join(served) or '(none)'}"]
    for spec in plan.executors:
        pad = " " * (width + 4)
        lines.append(f"  {spec.name.ljust(width)}  uses {spec.uses}")
        lines.append(f"{pad}shards {spec.shards}, needs {', '.join(spec.needs)}")
        bound = endpoints_of(spec)
        if DEFAULT_ENDPOINT in bound:
            explicit = [e for e in bound if e != DEFAULT_ENDPOINT]
            serves = "every endpoint" + (f" ({', '.join(explicit)} by name)" if explicit else " (default binding)")
        else:
            serves = ", ".join(bound) if bound else "nothing (passes docs through)"
        lines.append(f"{pad}serves {serves}")
        if spec.shards > 1:
            modes = polling_of(spec, served)
            lines.append(f"{pad}polling " + ", ".join(f"{endpoint} {mode}" for endpoint, mode in modes.items()))
        for role, uses in _helpers_of(spec).items():
            lines.append(f"{pad}{role} {uses}" + (" (merges the shards' answers)" if role == "uses_after" else ""))
    lines.append(f"  {ANSWER}: {' + '.join(plan.sinks)}" + (" (merged)" if len(plan.sinks) > 1 else ""))
    return "\n".join(lines)


def _node_id(name: str) -> str:
    return "x_" + "".join(c if c.isalnum() else "_" for c in name)


def _label(*parts: str) -> str:
    return "<br/>".join(p.replace('"', "#quot;") for p in parts)


def render_mermaid(plan: Plan) -> str:
    """A Mermaid flowchart: gateway, executors (shards and polling in the label), answer."""
    served = plan.served_endpoints
    lines = ["flowchart LR", f"    {_node_id(GATEWAY)}([{GATEWAY}])"]
    for spec in plan.executors:
        parts = [f"<b>{spec.name}</b>", spec.uses.rsplit(".", 1)[-1]]
        if spec.shards > 1:
            modes = polling_of(spec, served)
            parts.append(f"{spec.shards} shards")
            parts.extend(f"{endpoint}: {mode}" for endpoint, mode in modes.items())
        parts.extend(f"{role}: {uses.rsplit('.', 1)[-1]}" for role, uses in _helpers_of(spec).items())
        shape = ('[["', '"]]') if spec.shards > 1 else ('["', '"]')
        lines.append(f"    {_node_id(spec.name)}{shape[0]}{_label(*parts)}{shape[1]}")
    lines.append(f"    {_node_id(ANSWER)}([{ANSWER}])")
    for spec in plan.executors:
        for need in spec.needs:
            lines.append(f"    {_node_id(need)} --> {_node_id(spec.name)}")
    for sink in plan.sinks:
        lines.append(f"    {_node_id(sink)} --> {_node_id(ANSWER)}")
    return "\n".join(lines) + "\n"


def mermaid_markdown(plan: Plan) -> str:
    """The Mermaid diagram in a Markdown file, as GitHub renders it."""
    return f"# Flow `{plan.name}`\n\n```mermaid\n{render_mermaid(plan)}```\n"
