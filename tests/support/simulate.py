"""Runs a Flow the way its state machine does, in this process: route by endpoint, every
stage shard through the Lambda handler's runtime, every state hop through JSON. It checks
the serverless semantics (routes, hops, merges) against the embedded engine without AWS;
the emulator tests check the generated state machine itself."""

from __future__ import annotations

import json
from typing import Any

import orjson

from faasflow import codec
from faasflow.array import DocumentArray
from faasflow.compiler.asl import inline_limit
from faasflow.compiler.routes import OTHER_ENDPOINTS, plan_routes, tree_stages
from faasflow.errors import FlowError, UnknownEndpointError
from faasflow.plan import Plan
from faasflow.request import new_request_id
from faasflow.runtime.handler import ShardRuntime
from faasflow.runtime.hops import collect_results, decode_tree, resolve
from faasflow.runtime.payload import encode_docs


def _through_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


class SimulatedStateMachine:
    def __init__(self, plan: Plan, storage_url: str):
        self.plan = plan
        self.routes = {route.key: route for route in plan_routes(plan)}
        self.runtimes: dict[tuple[str, int], ShardRuntime] = {}
        for spec in plan.executors:
            for shard in range(spec.shards):
                runtime_args = {
                    "name": spec.name,
                    "shard_id": shard,
                    "shards": spec.shards,
                    "storage_url": storage_url,
                    "workspace": storage_url,
                }
                instance = spec.cls(**spec.uses_with, runtime_args=runtime_args, metas={"name": spec.name})
                self.runtimes[(spec.name, shard)] = ShardRuntime(spec, shard, instance)
        self.invocations = 0

    def post(self, endpoint: str, docs: DocumentArray, parameters: dict | None = None):
        """The run's answer (docs, results), or its error raised as the gateway reads it."""
        parameters = codec.to_plain(parameters or {})  # as the gateway decoded them from JSON
        output = self.run(endpoint, docs, parameters)
        if "error" in output:
            if output["error"].get("type") == "UnknownEndpoint":  # the gateway answers 404
                raise UnknownEndpointError(endpoint, self.plan.served_endpoints)
            raise FlowError.from_dict(output["error"])
        values = output["values"]
        return resolve(decode_tree(output["answer"]), values, parameters), collect_results(values)

    def run(self, endpoint: str, docs: DocumentArray, parameters: dict | None = None) -> dict[str, Any]:
        """What a synchronous run ends with (``RunOutput``): the answer's tree and the values
        it reads, or the first failing shard's error envelope as the state machine passes it
        on; a StartSyncExecution stand-in answers with this."""
        parameters = codec.to_plain(parameters or {})
        route = self.routes.get(endpoint) or self.routes.get(OTHER_ENDPOINTS)
        if route is None:
            return {"error": {"type": "UnknownEndpoint", "endpoint": endpoint,
                              "message": "no executor serves this endpoint"}}
        request = {"endpoint": endpoint, "parameters": parameters, "request_id": new_request_id()}
        limit = inline_limit(route)
        outputs: dict[str, Any] = {"gateway": {"value": {"docs": encode_docs(docs, "gateway", limit)}}}
        for stage in route.stages:
            event = {
                "request": request,
                "input": json.dumps(stage.input),
                "mode": stage.mode,
                "inline_limit": limit,
                "values": {n: outputs[n] for n in tree_stages(stage.input)},
            }
            envelopes = []
            for shard in range(stage.spec.shards):
                self.invocations += 1
                envelope = self.runtimes[(stage.spec.name, shard)].handle(_through_json({**event, "shard": shard}))
                envelope = _through_json(envelope)
                if "error" in envelope:
                    return {"error": envelope["error"]}
                envelopes.append(envelope)
            outputs[stage.spec.name] = envelopes if stage.spec.shards > 1 else {"value": envelopes[0]}
        return _through_json({"answer": json.dumps(route.answer), "request": request, "values": outputs})
