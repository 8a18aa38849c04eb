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
from faasflow.parameters import ParameterCheck, parameter_schemas, schemas_text
from faasflow.plan import Plan
from faasflow.request import new_request_id
from faasflow.runtime.handler import ShardRuntime
from faasflow.runtime.hops import collect_results, decode_tree, resolve, stage_error
from faasflow.runtime.payload import decode_docs, encode_docs
from faasflow.stage import check_target


def _through_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


class SimulatedStateMachine:
    def __init__(self, plan: Plan, storage_url: str):
        self.plan = plan
        self.routes = {route.key: route for route in plan_routes(plan)}
        # the declared parameter models, as the gateway function reads them from its code folder
        self.parameter_check = ParameterCheck(json.loads(schemas_text(parameter_schemas(plan))))
        self.runtimes: dict[tuple[str, int], ShardRuntime] = {}
        for spec in (one for owner in plan.executors for one in (owner, *owner.helpers)):  # uses_before/after too
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

    def post(self, endpoint: str, docs: DocumentArray, parameters: dict | None = None,
             target_executor: str | None = None):
        """The run's answer (docs, results), or its error raised as the gateway reads it."""
        parameters = codec.to_plain(parameters or {})  # as the gateway decoded them from JSON
        self.parameter_check.check(endpoint, parameters)  # as the gateway function does, before the run
        check_target(target_executor, (spec.name for spec in self.plan.executors))  # as the gateway does
        output = self.run(endpoint, docs, parameters, target_executor)
        if "error" in output:
            if output["error"].get("type") == "UnknownEndpoint":  # the gateway answers 404
                raise UnknownEndpointError(endpoint, self.plan.served_endpoints)
            raise FlowError.from_dict(dict(stage_error(output["shards"]) or {}) if "shards" in output
                                      else output["error"])
        values = output["values"]
        return resolve(decode_tree(output["answer"]), values, parameters), collect_results(values)

    def run(self, endpoint: str, docs: DocumentArray, parameters: dict | None = None,
            target_executor: str | None = None) -> dict[str, Any]:
        """What a synchronous run ends with (``RunOutput``): the answer's tree and the values
        it reads, or the first failing shard's error envelope as the state machine passes it
        on; a StartSyncExecution stand-in answers with this."""
        parameters = codec.to_plain(parameters or {})
        route = self.routes.get(endpoint) or self.routes.get(OTHER_ENDPOINTS)
        if route is None:
            return {"error": {"type": "UnknownEndpoint", "endpoint": endpoint,
                              "message": "no executor serves this endpoint"}}
        request = {"endpoint": endpoint, "parameters": parameters, "request_id": new_request_id()}
        if target_executor is not None:
            request["target_executor"] = target_executor
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
            for shard in range(stage.spec.shards):  # every shard runs, as in the Parallel state
                self.invocations += 1
                envelope = self.runtimes[(stage.spec.name, shard)].handle(_through_json({**event, "shard": shard}))
                envelopes.append(_through_json(envelope))
            failed = [envelope for envelope in envelopes if "error" in envelope]
            if failed:  # the first failing shard's error, and, sharded, every envelope (as the ASL passes them)
                return {"error": failed[0]["error"], **({"shards": envelopes} if stage.spec.shards > 1 else {})}
            outputs[stage.spec.name] = envelopes if stage.spec.shards > 1 else {"value": envelopes[0]}
        return _through_json({"answer": json.dumps(route.answer), "request": request, "values": outputs})


class SimulatedStepFunctions:
    """StartSyncExecution on the simulated state machine: what the gateway function sees."""

    def __init__(self, machine: SimulatedStateMachine):
        self.machine = machine

    def start_sync_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:  # noqa: N803, A002
        state = codec.loads(input)
        request = state["request"]
        docs = decode_docs(state["outputs"]["gateway"]["value"]["docs"])
        output = self.machine.run(request["endpoint"], docs, request["parameters"], request.get("target_executor"))
        return {"status": "SUCCEEDED", "output": codec.dumps_text(output)}
