"""Events as the deployed state machine hands them to a stage, for driving one function
(or a rehearsed image) by hand."""

from __future__ import annotations

from typing import Any

from faasflow import codec
from faasflow.array import DocumentArray
from faasflow.compiler.routes import OTHER_ENDPOINTS, plan_routes
from faasflow.plan import Plan
from faasflow.runtime.payload import encode_docs
from faasflow.wire import DEFAULT_INLINE_LIMIT


def gateway_event(plan: Plan, endpoint: str, stage_name: str, docs: DocumentArray, shard: int = 0) -> dict[str, Any]:
    """The event the state machine gives a stage fed by the gateway (a Task's Payload)."""
    routes = {route.key: route for route in plan_routes(plan)}
    route = routes.get(endpoint) or routes[OTHER_ENDPOINTS]
    stage = next(s for s in route.stages if s.spec.name == stage_name)
    limit = DEFAULT_INLINE_LIMIT
    return {
        "request": {"endpoint": endpoint, "parameters": {}, "request_id": "rehearsal"},
        "stage": stage_name,
        "shard": shard,
        "mode": stage.mode,
        "input": codec.dumps_text(stage.input),
        "inline_limit": limit,
        "values": {"gateway": {"value": {"docs": encode_docs(docs, "rehearsal/gateway", limit)}}},
    }
