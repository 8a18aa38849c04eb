"""The gateway function: the same FastAPI app as ``faasflow serve``, inside Lambda behind
API Gateway (through Mangum), on a backend that runs each request as a synchronous
Express execution of the Flow's state machine.

The gateway imports no executor code: what it knows of the Flow comes from
``FAASFLOW_GATEWAY_CONFIG`` (written by ``faasflow build``), and the endpoints' declared
parameter models from the JSON Schemas the build writes into its code folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, cast

from faasflow import codec
from faasflow.array import DocumentArray
from faasflow.errors import FaasflowError, FlowError
from faasflow.parameters import ParameterCheck, ParameterSchemas, read_schemas
from faasflow.request import Response, make_response
from faasflow.runtime.hops import collect_results, decode_tree, resolve, stage_error
from faasflow.runtime.payload import encode_docs
from faasflow.stage import check_target
from faasflow.wire import (
    DEFAULT_INLINE_LIMIT,
    RESULTS_KEY,
    STATUS_REQUEST,
    GatewayConfig,
    RequestInfo,
    RunInput,
    RunOutput,
)


class ExecutionFailed(FaasflowError):
    """The state machine run itself failed (not an executor): a timeout, a service error."""

    def __init__(self, status: str, error: str | None, cause: str | None):
        self.status, self.error, self.cause = status, error, cause
        super().__init__(f"the Flow's state machine run ended {status}: {error or ''} {cause or ''}".strip())


def stepfunctions_client() -> Any:
    """A Step Functions client that waits as long as an Express run may last."""
    from faasflow.aws import aws_client

    return aws_client("stepfunctions", read_timeout=300)


class StepFunctionsBackend:
    """Runs requests on the deployed Flow: one ``StartSyncExecution`` per request batch."""

    kind = "stepfunctions"

    def __init__(self, state_machine_arn: str, config: GatewayConfig, client: Any = None,
                 functions: Mapping[str, list[str]] | None = None, parameters: ParameterSchemas | None = None):
        self.state_machine_arn = state_machine_arn
        self.config = config
        self.parameter_check = ParameterCheck(parameters or {})  # declared models: checked before any run
        self._client = client
        self._lambda: Any = None  # made on the first GET /status?runtime=true, then kept
        self.functions = dict(functions or {})  # executor -> its shards' function names (Lambda stages only)

    @classmethod
    def from_environment(cls) -> StepFunctionsBackend:
        return cls(os.environ["FAASFLOW_STATE_MACHINE_ARN"],
                   cast(GatewayConfig, codec.loads(os.environ["FAASFLOW_GATEWAY_CONFIG"])),
                   functions=codec.loads(os.environ.get("FAASFLOW_EXECUTOR_FUNCTIONS") or "{}"),
                   parameters=read_schemas())

    def parameter_schemas(self) -> ParameterSchemas:
        return self.parameter_check.schemas

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = stepfunctions_client()
        return self._client

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def served_endpoints(self) -> list[str]:
        return list(self.config["endpoints"])

    def serves(self, endpoint: str) -> bool:
        return endpoint.startswith("/") and (endpoint in self.config["endpoints"] or self.config["any_endpoint"])

    def process(self, endpoint: str, docs: DocumentArray, parameters: dict[str, Any], request_id: str,
                target_executor: str | None = None) -> Response:
        limit = int(self.config.get("inline_limit") or DEFAULT_INLINE_LIMIT)
        request: RequestInfo = {"endpoint": endpoint, "parameters": parameters, "request_id": request_id}
        if target_executor is not None:  # the run's hops pass through the stages it does not match
            check_target(target_executor, (str(e["name"]) for e in self.config["executors"]))
            request["target_executor"] = target_executor
        try:
            self.parameter_check.check(endpoint, parameters)
        except FlowError as error:
            return make_response(request_id, endpoint, DocumentArray(), dict(parameters), error)
        state: RunInput = {
            "request": request,
            "outputs": {"gateway": {"value": {"docs": encode_docs(docs, f"{request_id}/gateway", limit)}}},
        }
        answer = self.client.start_sync_execution(
            stateMachineArn=self.state_machine_arn, name=request_id, input=codec.dumps_text(state)
        )
        return self.response_of(answer, request)

    def response_of(self, answer: Mapping[str, Any], request: Mapping[str, Any]) -> Response:
        """Map a ``StartSyncExecution`` answer to the response the local gateway would give."""
        endpoint, request_id = request["endpoint"], request["request_id"]
        parameters = dict(request.get("parameters") or {})
        if answer.get("status") != "SUCCEEDED":  # a failed run still comes back as HTTP 200 from the API
            raise ExecutionFailed(str(answer.get("status")), answer.get("error"), answer.get("cause"))
        output = cast(RunOutput, codec.loads(answer["output"]))
        if "error" in output:
            error = stage_error(output["shards"]) or output["error"] if "shards" in output else output["error"]
            if error.get("type") == "UnknownEndpoint":
                from faasflow.errors import UnknownEndpointError

                raise UnknownEndpointError(endpoint, self.served_endpoints)
            return make_response(request_id, endpoint, DocumentArray(), parameters, FlowError.from_dict(dict(error)))
        values = output["values"]
        docs = resolve(decode_tree(output["answer"]), values, parameters)
        results = collect_results(values)
        if results:
            parameters[RESULTS_KEY] = results
        return make_response(request_id, endpoint, docs, parameters)

    def status(self, runtime: bool = False) -> dict[str, Any]:
        from faasflow import __version__

        executors = [dict(e) for e in self.config["executors"]]
        if runtime:
            reports = self.runtime_reports()
            for executor in executors:
                if any(reports.get(executor["name"], [])):
                    executor["runtime"] = reports[executor["name"]]
        return {
            "name": self.name,
            "endpoints": self.served_endpoints,
            "executors": executors,
            "answer": list(self.config.get("answer", [])),
            "version": __version__,
            "backend": self.kind,
            "ready": True,
        }

    def runtime_reports(self) -> dict[str, list[dict[str, Any]]]:
        """Each executor shard's own report (``Executor.status()``), from its function, asked
        in parallel; a shard that cannot answer reports the error instead."""
        from concurrent.futures import ThreadPoolExecutor

        if self._lambda is None:
            from faasflow.aws import aws_client

            self._lambda = aws_client("lambda")
        client, payload = self._lambda, codec.dumps(STATUS_REQUEST)

        def ask(function: str) -> dict[str, Any]:
            try:
                answer = client.invoke(FunctionName=function, Payload=payload)
                body = codec.loads(answer["Payload"].read() or b"null")
            except Exception as exc:  # noqa: BLE001 - a status page reports failures, it does not raise them
                return {"error": f"{type(exc).__name__}: {exc}"}
            if answer.get("FunctionError"):
                return {"error": str(body.get("errorMessage", body) if isinstance(body, dict) else body)}
            return body if isinstance(body, dict) else {"error": f"not a report: {body!r}"}

        functions = [f for shards in self.functions.values() for f in shards]
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(functions)))) as pool:
            answers = dict(zip(functions, pool.map(ask, functions)))
        return {name: [answers[f] for f in shards] for name, shards in self.functions.items()}

    def observe_executors(self, observer: Any) -> None:
        """Executors run in their own functions: their metrics are theirs (EMF), not the gateway's."""


_handler: Any = None


def build_handler() -> Any:
    from mangum import Mangum

    from faasflow.runtime.idempotency import guard
    from faasflow.serve.app import create_app

    backend = StepFunctionsBackend.from_environment()
    return guard(Mangum(create_app(backend), lifespan="off"), backend.config)  # a repeated Idempotency-Key runs once


def handler(event: Mapping[str, Any], context: Any) -> Any:
    """The Lambda entry point: ``faasflow.runtime.gateway.handler``."""
    global _handler
    if _handler is None:
        _handler = build_handler()
    return _handler(event, context)


if os.environ.get("FAASFLOW_STATE_MACHINE_ARN") and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    _handler = build_handler()  # build the app during the Lambda init phase
