"""Plan -> Amazon States Language: the Express state machine for synchronous requests.

The endpoint picks a route (Choice); each stage is a Lambda Task, a sharded stage a
Parallel state with one branch per shard; every stage's envelope lands at
``$.outputs.<stage>``. An executor error comes back as an ``{"error": ...}`` envelope
and a Choice after the stage ends the run with it; a crashed invocation is caught and
turned into the same error, named by executor and shard. Lambda service errors and
throttling are retried with backoff and jitter. The run's output is the answer's input
tree plus the outputs it reads; the gateway resolves it exactly as a stage would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faasflow import codec
from faasflow.compiler.endpoints import endpoint_branch
from faasflow.compiler.naming import check_names, function_id, state_key
from faasflow.compiler.routes import Route, Stage, plan_routes, tree_stages
from faasflow.plan import GATEWAY, Plan
from faasflow.wire import STATE_BUDGET, InputTree

LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 1,
    "MaxAttempts": 3,
    "BackoffRate": 2.0,
    "JitterStrategy": "FULL",
}


def inline_limit(route: Route) -> int:
    """Inline bytes per envelope, so that every envelope a run keeps fits the state."""
    envelopes = 1 + sum(stage.spec.shards for stage in route.stages)
    return STATE_BUDGET // envelopes


def gateway_inline_limit(plan: Plan, routes: Sequence[Route] | None = None) -> int:
    """The gateway's inline bytes: what the tightest route allows."""
    routes = plan_routes(plan) if routes is None else routes
    return min((inline_limit(route) for route in routes), default=STATE_BUDGET)


def _values(names: list[str]) -> dict[str, str]:
    return {f"{name}.$": f"$.outputs.{state_key(name)}" for name in dict.fromkeys(names)}


def _payload(stage: Stage, shard: int, limit: int) -> dict[str, Any]:
    """The event a stage shard gets (the Lambda handler and the GPU server take the same)."""
    return {
        "request.$": "$.request",
        "stage": stage.spec.name,
        "shard": shard,
        "mode": stage.mode,
        "input": codec.dumps_text(stage.input),
        "inline_limit": limit,
        "values": _values(tree_stages(stage.input)),
    }


def _task(route: Route, stage: Stage, shard: int, limit: int) -> dict[str, Any]:
    function = function_id(stage.spec.name, shard, stage.spec.shards)
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"${{{function}Arn}}", "Payload": _payload(stage, shard, limit)},
        "ResultSelector": {"value.$": "$.Payload"},
        "Retry": [LAMBDA_RETRY],
    }


def _crashed(stage: Stage, shard: int) -> dict[str, Any]:
    return {
        "Type": "Pass",
        "Parameters": {
            "error": {
                "executor": stage.spec.name,
                "shard": shard,
                "endpoint.$": "$.request.endpoint",
                "type.$": "$.caught.Error",
                "message.$": "$.caught.Cause",
            }
        },
        "End": True,
    }


def _stage_states(route: Route, stage: Stage, next_state: str, limit: int) -> dict[str, Any]:
    prefix = f"{route.key} {stage.spec.name}"
    key = state_key(stage.spec.name)
    states: dict[str, Any] = {}
    if stage.spec.shards == 1 and not stage.spec.gpu:
        task = _task(route, stage, 0, limit)
        task.update(
            ResultPath=f"$.outputs.{key}",
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": f"{prefix} crashed"}],
            Next=f"{prefix} check",
        )
        states[prefix] = task
        states[f"{prefix} crashed"] = _crashed(stage, 0)
        states[f"{prefix} check"] = {
            "Type": "Choice",
            "Choices": [{"Variable": f"$.outputs.{key}.value.error", "IsPresent": True, "Next": f"{prefix} failed"}],
            "Default": next_state,
        }
        states[f"{prefix} failed"] = {
            "Type": "Pass",
            "Parameters": {"error.$": f"$.outputs.{key}.value.error"},
            "End": True,
        }
        return states
    branches = []
    for shard in range(stage.spec.shards):
        task_name = f"{prefix} shard {shard}"
        if stage.spec.gpu:  # a SageMaker endpoint, not a function: faasflow.compiler.endpoints
            payload = _payload(stage, shard, limit)
            branches.append(endpoint_branch(task_name, payload, stage.spec, shard, _crashed(stage, shard)))
            continue
        task = _task(route, stage, shard, limit)
        task.update(
            OutputPath="$.value",
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": f"{task_name} crashed"}],
            End=True,
        )
        branches.append(
            {"StartAt": task_name, "States": {task_name: task, f"{task_name} crashed": _crashed(stage, shard)}}
        )
    states[prefix] = {
        "Type": "Parallel",
        "Branches": branches,
        "ResultPath": f"$.outputs.{key}",
        "Next": f"{prefix} check",
    }
    errors = [f"$.outputs.{key}[{shard}].error" for shard in range(stage.spec.shards)]
    if stage.spec.shards == 1:  # a one-shard GPU stage: its envelope lands where a function's would
        states[prefix]["ResultSelector"] = {"value.$": "$[0]"}
        errors = [f"$.outputs.{key}.value.error"]
    states[f"{prefix} check"] = {
        "Type": "Choice",
        "Choices": [
            {"Variable": error, "IsPresent": True, "Next": f"{prefix} shard {shard} failed"}
            for shard, error in enumerate(errors)
        ],
        "Default": next_state,
    }
    for shard, error in enumerate(errors):
        failed: dict[str, Any] = {"error.$": error}
        if stage.spec.shards > 1:  # every shard ran: the gateway says which committed (hops.stage_error)
            failed["shards.$"] = f"$.outputs.{key}"
        states[f"{prefix} shard {shard} failed"] = {"Type": "Pass", "Parameters": failed, "End": True}
    return states


def _answer(route: Route) -> dict[str, Any]:
    names = [GATEWAY, *(stage.spec.name for stage in route.stages)]
    return {
        "Type": "Pass",
        "Parameters": {
            "answer": codec.dumps_text(route.answer),
            "request.$": "$.request",
            "values": _values(names),
        },
        "End": True,
    }


def route_states(route: Route) -> tuple[str, dict[str, Any]]:
    """The states of one route, and the name of its first state."""
    limit = inline_limit(route)
    answer = f"{route.key} answer"
    states: dict[str, Any] = {answer: _answer(route)}
    next_state = answer
    for stage in reversed(route.stages):
        states.update(_stage_states(route, stage, next_state, limit))
        next_state = f"{route.key} {stage.spec.name}"
    return next_state, states


def compile_asl(plan: Plan, routes: Sequence[Route] | None = None) -> dict[str, Any]:
    """The state machine definition; function ARNs as ``${<LogicalId>Arn}`` substitutions.
    ``routes`` are ``plan_routes(plan)``, when the caller has them already."""
    check_names(plan)
    routes = plan_routes(plan) if routes is None else routes
    states: dict[str, Any] = {}
    choices = []
    default = "unknown endpoint"
    for route in routes:
        first, route_state = route_states(route)
        states.update(route_state)
        if route.key == "*":
            default = first
        else:
            choices.append({"Variable": "$.request.endpoint", "StringEquals": route.key, "Next": first})
    if default == "unknown endpoint":
        states[default] = {
            "Type": "Pass",
            "Parameters": {
                "error": {
                    "type": "UnknownEndpoint",
                    "endpoint.$": "$.request.endpoint",
                    "message": "no executor serves this endpoint",
                }
            },
            "End": True,
        }
    return {
        "Comment": f"faasflow Flow {plan.name!r}: synchronous requests (generated by faasflow build)",
        "StartAt": "route",
        "States": {"route": {"Type": "Choice", "Choices": choices, "Default": default}, **states},
    }


def answer_tree(output: dict[str, Any]) -> InputTree:
    tree: InputTree = codec.loads(output["answer"])
    return tree
