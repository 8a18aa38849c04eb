"""The path one request takes through the generated state machines, read from the ASL
``faasflow build`` writes rather than re-derived from the Flow: the states it enters
(Standard bills each; Express reports them and bills time), and its invocations, stage by
stage, with what each Task hands its function (mode, input tree, inline limit, the stages
whose envelopes it passes on).

Only the success path is walked: a Choice takes the rule matching the request's endpoint,
else its Default (the checks after each stage test for an error a successful run lacks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
SAGEMAKER = ("arn:aws:states:::sagemaker", "arn:aws:states:::aws-sdk:sagemakerruntime:")  # a GPU endpoint
OTHER = "*"  # the route of endpoints only default methods serve


@dataclass(frozen=True)
class Invocation:
    """One Task of the path: a Lambda function (by logical id) or a GPU endpoint."""

    resource: str  # the function's logical id, or the endpoint's name substitution
    gpu: bool
    payload: Mapping[str, Any]  # the event's fixed parts, as the ASL writes them

    @property
    def stage(self) -> str | None:
        stage = self.payload.get("stage")
        return stage if isinstance(stage, str) else None


@dataclass(frozen=True)
class StagePath:
    """One stage as its Task(s) run it: one invocation per shard."""

    name: str
    mode: str
    input: str  # the input tree, as codec text (what the handler decodes)
    inline_limit: int
    reads: tuple[str, ...]  # the stages whose envelopes the Task passes in ``values``
    invocations: tuple[Invocation, ...]

    @property
    def shards(self) -> int:
        return len(self.invocations)

    @property
    def gpu(self) -> bool:
        return any(i.gpu for i in self.invocations)


@dataclass(frozen=True)
class RunPath:
    """One run of a state machine for one endpoint (or one batch split)."""

    endpoint: str  # the route's key: an endpoint, or ``*``
    transitions: int
    stages: tuple[StagePath, ...]
    other: tuple[Invocation, ...]  # invocations of no stage: the batch worker's
    answer_reads: tuple[str, ...]  # the stages whose envelopes the run's answer carries
    entry_limit: int | None = None  # a batch split: the inline limit its docs are read with


@dataclass(frozen=True)
class BatchPath:
    """One batch run: the Standard machine's own states, and one child run per split."""

    transitions: int  # the parent's states entered; each child started is one more (the model adds them)
    invocations: tuple[Invocation, ...]  # the parent's own Tasks (the summary)
    child: RunPath


@dataclass
class _Walk:
    transitions: int = 0
    invocations: list[Invocation] | None = None
    answer_reads: tuple[str, ...] = ()
    maps: list[_Walk] | None = None
    entry_limit: int | None = None


def endpoints(asl: Mapping[str, Any]) -> list[str]:
    """The route keys of the Express machine, in its order; ``*`` when default methods
    serve the endpoints no route names."""
    route = asl["States"][asl["StartAt"]]
    keys = [rule["StringEquals"] for rule in route.get("Choices", ()) if _routes_endpoint(rule)]
    default = asl["States"].get(route.get("Default", ""), {})
    unknown = (default.get("Parameters") or {}).get("error", {}).get("type") == "UnknownEndpoint"
    return keys + ([] if unknown or "Default" not in route else [OTHER])


def run_path(asl: Mapping[str, Any], endpoint: str) -> RunPath:
    """The Express machine's path for the route ``endpoint`` (``*``: the default methods')."""
    walk = _walk(asl["States"], asl["StartAt"], None if endpoint == OTHER else endpoint)
    return _run_path(endpoint, walk)


def batch_path(asl: Mapping[str, Any], endpoint: str) -> BatchPath:
    """The batch machine's path: its states, and a split's child run, which runs the route
    ``endpoint`` (``/index``, or ``*`` where default methods index)."""
    walk = _walk(asl["States"], asl["StartAt"], None)
    if not walk.maps:
        raise ValueError("the batch state machine has no Map state")
    child = _run_path(endpoint, walk.maps[0])
    return BatchPath(walk.transitions, tuple(walk.invocations or ()), child)


def _run_path(endpoint: str, walk: _Walk) -> RunPath:
    stages: list[StagePath] = []
    other: list[Invocation] = []
    for invocation in walk.invocations or ():
        name = invocation.stage
        if name is None:
            other.append(invocation)
        elif stages and stages[-1].name == name:
            last = stages[-1]
            stages[-1] = StagePath(last.name, last.mode, last.input, last.inline_limit, last.reads,
                                   (*last.invocations, invocation))
        else:
            payload = invocation.payload
            stages.append(StagePath(name, str(payload.get("mode", "single")), str(payload.get("input", "")),
                                    int(payload.get("inline_limit", 0)), _reads(payload.get("values")),
                                    (invocation,)))
    return RunPath(endpoint, walk.transitions, tuple(stages), tuple(other), walk.answer_reads, walk.entry_limit)


def _walk(states: Mapping[str, Any], start: str, endpoint: str | None) -> _Walk:
    walk = _Walk(invocations=[], maps=[])
    pending: Mapping[str, Any] | None = None  # a GPU branch's event, built by a Pass before its Task
    name: str | None = start
    seen: set[str] = set()
    while name is not None:
        if name in seen:
            raise ValueError(f"state {name!r} is entered twice on the success path")
        seen.add(name)
        state = states[name]
        walk.transitions += 1
        kind = state["Type"]
        if kind == "Choice":
            name = _choose(state, endpoint)
            continue
        parameters = state.get("Parameters") or {}
        if kind == "Parallel":
            for branch in state["Branches"]:
                _absorb(walk, _walk(branch["States"], branch["StartAt"], endpoint))
        elif kind == "Map":
            processor = state.get("ItemProcessor") or state["Iterator"]
            assert walk.maps is not None
            walk.maps.append(_walk(processor["States"], processor["StartAt"], endpoint))
        elif kind == "Task":
            invocation = _invocation(state, pending)
            if invocation is not None:
                assert walk.invocations is not None
                walk.invocations.append(invocation)
                if invocation.payload.get("op") == "read" and "inline_limit" in invocation.payload:
                    walk.entry_limit = int(invocation.payload["inline_limit"])
            pending = None
        elif kind == "Pass":
            if isinstance(parameters.get("event"), dict):
                pending = parameters["event"]
            if isinstance(parameters.get("answer"), str):  # the gateway decodes only the answer's tree
                walk.answer_reads = tree_reads(json.loads(parameters["answer"]))
        if state.get("End") or kind in ("Succeed", "Fail"):
            break
        name = state.get("Next")
    return walk


def _absorb(walk: _Walk, branch: _Walk) -> None:
    walk.transitions += branch.transitions
    assert walk.invocations is not None and walk.maps is not None
    walk.invocations.extend(branch.invocations or ())
    walk.maps.extend(branch.maps or ())


def _routes_endpoint(rule: Mapping[str, Any]) -> bool:
    return rule.get("Variable") == "$.request.endpoint" and "StringEquals" in rule


def _choose(state: Mapping[str, Any], endpoint: str | None) -> str | None:
    for rule in state.get("Choices", ()):
        if endpoint is not None and _routes_endpoint(rule) and rule["StringEquals"] == endpoint:
            return str(rule["Next"])
    default = state.get("Default")
    return str(default) if default is not None else None


def _invocation(state: Mapping[str, Any], pending: Mapping[str, Any] | None) -> Invocation | None:
    resource = str(state.get("Resource", ""))
    parameters = state.get("Parameters") or {}
    if resource == LAMBDA_INVOKE:
        function = str(parameters.get("FunctionName", ""))
        return Invocation(_substitution(function).removesuffix("Arn"), False, parameters.get("Payload") or {})
    if resource.startswith(SAGEMAKER):
        return Invocation(_substitution(str(parameters.get("EndpointName", ""))), True, pending or {})
    return None  # another service's Task: a transition, no invocation the model prices


def _substitution(text: str) -> str:
    """``${FeaturizerFunctionArn}`` -> ``FeaturizerFunctionArn``."""
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def tree_reads(tree: Any) -> tuple[str, ...]:
    """The stages an input tree (``faasflow.wire.InputTree``) decodes, in order."""
    if not isinstance(tree, dict):
        return ()
    if "merge" in tree:
        return tuple(name for child in tree["merge"] for name in tree_reads(child))
    name = tree.get("shards", tree.get("stage"))
    return (name,) if isinstance(name, str) else ()


def _reads(values: Any) -> tuple[str, ...]:
    """The stage names of a Task's ``values`` (``{"db.$": "$.outputs.db"}``)."""
    return tuple(key.removesuffix(".$") for key in values) if isinstance(values, dict) else ()
