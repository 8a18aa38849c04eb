"""Per-endpoint routes through a Plan: which stages run, and where each gets its input.

A stage that has no method for an endpoint is not invoked at all on that endpoint (the
docs pass through, as in the embedded engine): its consumers read what it would have
passed on. Inputs are small trees, shared by the state machine, the executor handler
and the gateway:

* ``{"stage": "db", "mode": "ALL"}`` — a stage's output (``single``, ``ANY`` or ``ALL``:
  how its shards' answers combine);
* ``{"merge": [tree, ...]}`` — a join: the inputs reduced by id;
* ``{"shards": "db", "mode": "ALL"}`` — a sharded stage's answers, not combined: the input
  of its ``uses_after`` (which gets them as ``docs_matrix``).

An executor's ``uses_before`` and ``uses_after`` (when they serve the endpoint) are stages
of their own, one shard each, right before and after it: the ``uses_before`` gets the
executor's input and the executor its answer; the ``uses_after`` gets the shards' answers
and its consumers its answer, in place of the built-in merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from faasflow.executor import DEFAULT_ENDPOINT
from faasflow.plan import GATEWAY, ExecutorSpec, Plan
from faasflow.wire import InputTree, Mode

OTHER_ENDPOINTS = "*"
_UNBOUND = "/\x00other"  # an endpoint no executor binds explicitly: default methods serve it

Tree = InputTree  # the wire shape (faasflow.wire): the compiler writes it, the runtime reads it


@dataclass(frozen=True)
class Stage:
    spec: ExecutorSpec
    mode: Mode  # "single", "ANY" or "ALL"
    input: Tree


@dataclass(frozen=True)
class Route:
    key: str  # an endpoint, or "*" for endpoints bound only by default methods
    stages: tuple[Stage, ...]
    answer: Tree


def stage_mode(spec: ExecutorSpec, endpoint: str) -> Mode:
    """How a stage's shards' answers combine (the Plan validated the polling modes)."""
    return "single" if spec.shards == 1 else cast(Mode, spec.polling.mode(endpoint))


def plan_routes(plan: Plan) -> list[Route]:
    """A route for every explicitly bound endpoint, for every endpoint a sharded executor
    names in its polling that default methods serve (its polling differs from ``*``'s),
    plus ``*`` when default methods exist."""
    keys = [e for e in plan.served_endpoints if e != DEFAULT_ENDPOINT]
    # a Flow of the gateway alone answers every endpoint with the request's docs
    defaults = not plan.executors or any(spec.cls.binding_for(_UNBOUND) is not None for spec in plan.executors)
    if defaults:
        named = sorted({e for spec in plan.executors if spec.shards > 1 for e in spec.polling.per_endpoint})
        keys += [e for e in named if e not in keys and e != DEFAULT_ENDPOINT]
        keys.append(OTHER_ENDPOINTS)
    return [route_for(plan, key) for key in keys]


def route_for(plan: Plan, key: str) -> Route:
    endpoint = _UNBOUND if key == OTHER_ENDPOINTS else key
    trees: dict[str, Tree] = {GATEWAY: {"stage": GATEWAY, "mode": "single"}}
    stages: list[Stage] = []

    def input_of(needs: tuple[str, ...]) -> Tree:
        return trees[needs[0]] if len(needs) == 1 else {"merge": [trees[n] for n in needs]}

    for spec in plan.executors:
        node_input = input_of(spec.needs)
        if spec.cls.binding_for(endpoint) is None:
            trees[spec.name] = node_input  # passes through: consumers read its input
            continue
        before, after = (h if h is not None and h.cls.binding_for(endpoint) is not None else None
                         for h in (spec.uses_before, spec.uses_after))
        if before is not None:
            stages.append(Stage(before, "single", node_input))
            node_input = {"stage": before.name, "mode": "single"}
        mode = stage_mode(spec, endpoint)
        stages.append(Stage(spec, mode, node_input))
        trees[spec.name] = {"stage": spec.name, "mode": mode}
        if after is not None:
            stages.append(Stage(after, "single", {"shards": spec.name, "mode": mode}))
            trees[spec.name] = {"stage": after.name, "mode": "single"}
    return Route(key, tuple(stages), input_of(plan.sinks))


def tree_stages(tree: Tree) -> list[str]:
    """The stage names a tree reads, in order."""
    if "merge" in tree:
        return [name for child in tree["merge"] for name in tree_stages(child) if name]
    if "shards" in tree:
        return [tree["shards"]]
    return [tree["stage"]]
