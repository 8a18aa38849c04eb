"""Just enough of the States Language to run a generated GPU branch by hand: Parameters
with ``.$`` paths, and the two intrinsics the branch uses."""

from __future__ import annotations

import json
from typing import Any


def path(expression: str, state: Any) -> Any:
    assert expression == "$" or expression.startswith("$."), expression
    value = state
    for part in expression[2:].split(".") if expression != "$" else []:
        value = value[part]
    return value


def parameters(template: Any, state: Any) -> Any:
    """A Parameters (or ResultSelector) template applied to ``state``."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = intrinsic(value, state)
            else:
                out[key] = parameters(value, state)
        return out
    if isinstance(template, list):
        return [parameters(v, state) for v in template]
    return template


def intrinsic(expression: str, state: Any) -> Any:
    if expression.startswith("States.JsonToString("):
        return json.dumps(path(expression[len("States.JsonToString("):-1], state), separators=(",", ":"))
    if expression.startswith("States.StringToJson("):
        return json.loads(path(expression[len("States.StringToJson("):-1], state))
    if expression.startswith("$[") and isinstance(state, list):
        return state[int(expression[2:-1])]
    return path(expression, state)


def run_gpu_branch(branch: dict[str, Any], state: dict[str, Any], invoke) -> Any:
    """Pass -> invokeEndpoint -> the branch's output; ``invoke(endpoint_name, body) -> body``."""
    states = branch["States"]
    build = states[branch["StartAt"]]
    task = states[build["Next"]]
    built = parameters(build["Parameters"], state)
    call = parameters(task["Parameters"], built)
    answer = {"Body": invoke(call["EndpointName"], call["Body"]), "ContentType": "application/json"}
    selected = parameters(task["ResultSelector"], answer)
    return path(task["OutputPath"], selected)
