"""Names in generated artefacts: CloudFormation logical ids and state keys."""

from __future__ import annotations

import re

from faasflow.errors import FlowConfigError
from faasflow.plan import Plan


def camel(name: str) -> str:
    """``'doc-store'`` -> ``'DocStore'`` (logical ids allow letters and digits only)."""
    parts = re.split(r"[^0-9A-Za-z]+", name)
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def function_id(executor: str, shard: int, shards: int) -> str:
    """The logical id of one executor shard's function: ``DbShard1Function``."""
    return f"{camel(executor)}{f'Shard{shard}' if shards > 1 else ''}Function"


def state_key(name: str) -> str:
    """A stage's key in the state (``$.outputs.<key>``): JSONPath-safe."""
    return re.sub(r"\W", "_", name)


def check_names(plan: Plan) -> None:
    """Executor names (uses_before/uses_after ones too: ``db/uses-after`` becomes
    ``DbUsesAfter``) must stay distinct once made into ids and keys."""
    seen: dict[str, str] = {}
    for spec in (one for owner in plan.executors for one in (owner, *owner.helpers)):
        for made in (camel(spec.name), state_key(spec.name)):
            other = seen.setdefault(made.lower(), spec.name)
            if other != spec.name:
                raise FlowConfigError(
                    f"names {other!r} and {spec.name!r} become the same id {made!r} on AWS; rename one",
                    executor=spec.name,
                    field="name",
                )
        if not camel(spec.name):
            raise FlowConfigError("needs letters or digits to make an AWS id", executor=spec.name, field="name")
