"""Plan -> AWS SAM template: decided once (``faasflow.compiler.decide``), rendered once
(``faasflow.compiler.sam``), then checked for what CloudFormation would refuse only at
deploy time. ``faasflow build`` writes it, ``sam build``/``sam deploy`` act on it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faasflow.compiler.decide import decide, gateway_config
from faasflow.compiler.layout import FAASFLOW_LAYER_DIR
from faasflow.compiler.routes import Route
from faasflow.compiler.sam import render_sam
from faasflow.errors import FlowConfigError
from faasflow.plan import Plan

__all__ = ["FAASFLOW_LAYER_DIR", "compile_template", "gateway_config", "check_environment_sizes", "environment_size"]


def compile_template(plan: Plan, project: Path, asl_path: str, routes: Sequence[Route] | None = None) -> dict[str, Any]:
    """The SAM template for a Plan; ``asl_path`` is the state machine file, relative to it;
    ``routes`` are ``plan_routes(plan)``, when the caller has them already."""
    template = render_sam(decide(plan, project, asl_path, routes))
    check_environment_sizes(template)
    return template


ENVIRONMENT_LIMIT = 4096  # Lambda: all of a function's environment variables together
SUBSTITUTION_BOUND = 64  # what one ${...} of ours may become: function names, stack-derived bucket names


def environment_size(variables: dict[str, Any]) -> int:
    """An upper bound of the variables' size once deployed (each substitution at its longest)."""
    size = 0
    for key, value in variables.items():
        text = value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else value
        text = text if isinstance(text, str) else "x" * SUBSTITUTION_BOUND  # a Ref or GetAtt
        size += len(key) + len(re.sub(r"\$\{[^}]*\}", "x" * SUBSTITUTION_BOUND, text))
    return size


def check_environment_sizes(template: dict[str, Any]) -> None:
    """Refuse at build time what CloudFormation would refuse at deploy time."""
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        variables = {**shared, **resource["Properties"].get("Environment", {}).get("Variables", {})}
        size = environment_size(variables)
        if size > ENVIRONMENT_LIMIT:
            executor = variables.get("FAASFLOW_EXECUTOR")
            raise FlowConfigError(
                f"function {logical_id}'s environment would be up to {size} bytes, over Lambda's "
                f"{ENVIRONMENT_LIMIT}-byte limit (long uses_with values, or very many executors and shards)",
                executor=executor if isinstance(executor, str) else None, field="uses_with" if executor else None)
