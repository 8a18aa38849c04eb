"""Plan -> the Standard state machine for batch indexing.

A Distributed Map reads the run's split descriptors (``runs/<run>/splits.jsonl``, written
by the ingest function) with an ItemReader; each child, an Express execution, reads its
split (the batch worker) and runs the Flow's ``/index`` route, the very states of the
synchronous machine. Batching is by split (about ``batch size`` lines each), planned by
the ingest function, so it behaves the same wherever ``ItemBatcher`` is not honoured.
A child that meets an executor error fails; up to the tolerated percentage of failed
children the run goes on; the summary step always runs and writes the run's summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faasflow.compiler.asl import LAMBDA_RETRY, inline_limit, route_states
from faasflow.compiler.routes import OTHER_ENDPOINTS, Route, plan_routes
from faasflow.plan import Plan

INDEX = "/index"
WORKER = "${BatchWorkerFunctionArn}"


def index_route(plan: Plan, routes: Sequence[Route] | None = None) -> Route | None:
    """The route a batch run's splits take: /index, or the default methods'."""
    keyed = {route.key: route for route in (plan_routes(plan) if routes is None else routes)}
    return keyed.get(INDEX) or keyed.get(OTHER_ENDPOINTS)


def _child_states(route: Route) -> dict[str, Any]:
    first, states = route_states(route)
    answer = f"{route.key} answer"
    for name, state in states.items():
        parameters = state.get("Parameters") or {}
        if state["Type"] == "Pass" and state.get("End") and name != answer and ({"error", "error.$"} & set(parameters)):
            del state["End"]
            state["Next"] = "split failed"  # an executor error fails this child: it counts against the tolerance
    states[answer] = {
        "Type": "Pass",
        "Parameters": {
            "index.$": "$.split.index",
            "lines.$": "$.outputs.gateway.value.lines",
            "rejected.$": "$.outputs.gateway.value.rejected",
            "indexed.$": "$.outputs.gateway.value.count",
        },
        "End": True,
    }
    states["split failed"] = {"Type": "Fail", "Error": "ExecutorFailed", "CausePath": "States.JsonToString($.error)"}
    read = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": WORKER,
            "Payload": {
                "op": "read",
                "bucket.$": "$.bucket",
                "key.$": "$.key",
                "version.$": "$.version",
                "size.$": "$.size",
                "split.$": "$.split",
                "request.$": "$.request",
                "inline_limit": inline_limit(route),
            },
        },
        "ResultSelector": {"value.$": "$.Payload"},
        "ResultPath": "$.outputs.gateway",
        "Retry": [LAMBDA_RETRY],
        "Next": first,
    }
    return {"read split": read, **states}


def compile_batch_asl(plan: Plan, max_concurrency: int = 4, tolerated_failure_percentage: int = 10,
                      routes: Sequence[Route] | None = None) -> dict[str, Any]:
    """The batch machine; function ARNs as ``${<LogicalId>Arn}`` substitutions. ``routes`` are
    ``plan_routes(plan)``, when the caller has them already."""
    route = index_route(plan, routes)
    if route is None:
        raise ValueError("batch indexing needs an executor serving /index (or a default method)")
    return {
        "Comment": f"faasflow Flow {plan.name!r}: batch indexing of incoming JSON-lines objects (generated)",
        "StartAt": "index splits",
        "States": {
            "index splits": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSONL"},
                    "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.splits_key"},
                },
                "ItemSelector": {
                    "split.$": "$$.Map.Item.Value",
                    "bucket.$": "$.bucket",
                    "key.$": "$.key",
                    "version.$": "$.version",
                    "size.$": "$.size",
                    "request": {
                        "endpoint": INDEX,
                        "parameters": {},
                        "request_id.$": "States.Format('{}-{}', $.run, $$.Map.Item.Index)",
                    },
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "read split",
                    "States": _child_states(route),
                },
                "MaxConcurrency": max_concurrency,
                "ToleratedFailurePercentage": tolerated_failure_percentage,
                "ResultPath": "$.results",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "summarize"}],
                "Next": "summarize",
            },
            "summarize": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": WORKER, "Payload": {"op": "summarize", "state.$": "$"}},
                "ResultSelector": {"summary.$": "$.Payload"},
                "ResultPath": "$.summary",
                "Retry": [LAMBDA_RETRY],
                "Next": "finished",
            },
            "finished": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.failure", "IsPresent": True, "Next": "run failed"}],
                "Default": "done",
            },
            "run failed": {"Type": "Fail", "Error": "BatchFailed", "Cause": "too many splits failed: see the summary"},
            "done": {"Type": "Succeed", "OutputPath": "$.summary.summary"},
        },
    }
