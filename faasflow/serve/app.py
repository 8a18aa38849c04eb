"""The gateway: a FastAPI app over a Backend.

``POST /{endpoint}`` per endpoint the Flow serves (Jina's REST shape), ``GET /status``,
``GET /metrics``, OpenAPI at ``/openapi.json`` and ``/docs``, and at ``GET /`` a page that
draws the Flow with its executors' figures. The same app runs under uvicorn here and under
Mangum in Lambda, so creating it is cheap (on every cold start): routes only, the OpenAPI
schema is built when first asked for.
"""

from __future__ import annotations

import asyncio
import logging
import re
from time import perf_counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from faasflow import __version__, codec
from faasflow.errors import UnknownTargetError
from faasflow.request import new_request_id
from faasflow.serve import idempotency, problems
from faasflow.serve.backend import Backend
from faasflow.serve.metrics import GatewayMetrics
from faasflow.serve.payload import parse_request_body
from faasflow.serve.problems import RequestProblem

logger = logging.getLogger("faasflow.serve")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_BODY_TIMEOUT_S = 30.0
JSON = "application/json"
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
RESERVED_PATHS = frozenset({"/", "/favicon.ico", "/status", "/metrics", "/docs", "/openapi.json",
                            "/docs/oauth2-redirect"})
_STATUS_REASONS = {404: "not_found", 405: "method_not_allowed"}


def _schema_ref(model: str) -> dict[str, Any]:
    return {"schema": {"$ref": f"#/components/schemas/{model}"}}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: _schema_ref("ErrorAnswer")}}


ENDPOINT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the documents after the Flow, in input order", "content": {JSON: _schema_ref("FlowAnswer")}},
    404: _error_response("the Flow does not serve this endpoint"),
    408: _error_response("the body was not fully received in time (`body_timeout`); the connection is closed"),
    413: _error_response("the body is over the gateway's limit"),
    422: _error_response("the body is not valid JSON in the request shape (`invalid_request`: `errors` says where), "
                         "or an executor refused it (`bad_request`: `executor`, `shard`, `doc_id` and `field` "
                         "say which), or the answer would be over the gateway's limit (`response_too_large`: "
                         "`size_bytes` and `limit_bytes`; send fewer documents or ask for fewer matches)"),
    500: _error_response("an executor raised: `executor`, `shard`, `endpoint`, `type` and `message` say which"),
}
ENDPOINT_BODY = {"required": False, "content": {JSON: _schema_ref("FlowRequest")}}
# FastAPI's own OpenTelemetry hooks look up providers on every request; /metrics is ours.
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}


def request_id_of(request: Request) -> str:
    """The caller's ``x-request-id`` when sane, else API Gateway's id (under Mangum), else a new one."""
    given = request.headers.get(REQUEST_ID_HEADER)
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    event = request.scope.get("aws.event")
    if isinstance(event, dict):
        aws_id = (event.get("requestContext") or {}).get("requestId")
        if isinstance(aws_id, str) and _REQUEST_ID.fullmatch(aws_id):
            return aws_id
    return new_request_id()


async def read_body(request: Request, limit: int, timeout_s: float | None = None) -> bytes:
    """The body, refused (413) as soon as it is known to be over ``limit`` bytes, and
    (408) when it is not all received within ``timeout_s`` seconds (None: no limit)."""
    if timeout_s is None:
        return await _read_body(request, limit)
    try:
        return await asyncio.wait_for(_read_body(request, limit), timeout_s)
    except TimeoutError:
        raise problems.body_timeout(timeout_s) from None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) > limit:
            raise problems.body_too_large(limit)
        return await request.body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise problems.body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class Gateway:
    """The request handling behind the routes, free of routing so that it reads top-down."""

    def __init__(self, backend: Backend, metrics: GatewayMetrics, max_body_bytes: int, debug: bool,
                 body_timeout_s: float | None = DEFAULT_BODY_TIMEOUT_S,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        self.backend = backend
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.debug = debug
        self.body_timeout_s = body_timeout_s
        self.max_response_bytes = max_response_bytes

    def _answer(self, status: int, body: bytes, request_id: str, endpoint: str | None, started: float,
                reason: str | None = None, headers: dict[str, str] | None = None) -> Response:
        self.metrics.observe_request(endpoint, status, perf_counter() - started, reason)
        return Response(body, status_code=status, media_type=JSON,
                        headers={**(headers or {}), REQUEST_ID_HEADER: request_id})

    def _run(self, endpoint: str, body: bytes, request_id: str) -> bytes:
        """Decode, process and encode on a worker thread: none of it blocks the event loop."""
        docs, parameters, target_executor = parse_request_body(body)
        try:  # a backend written before target_executor is passed it only when a request has one
            response = (self.backend.process(endpoint, docs, parameters, request_id) if target_executor is None
                        else self.backend.process(endpoint, docs, parameters, request_id, target_executor))
        except UnknownTargetError as error:
            raise problems.unknown_target(error) from None
        if response.error is not None:
            raise problems.executor_failed(response.error, self.debug)
        content = codec.dumps(response.to_dict())
        if len(content) > self.max_response_bytes:
            raise problems.response_too_large(len(content), self.max_response_bytes)
        return content

    async def post(self, request: Request, endpoint: str) -> Response:
        started = perf_counter()
        request_id = request_id_of(request)
        served = self.backend.serves(endpoint)
        try:
            if not served:
                raise problems.unknown_endpoint(endpoint, self.backend.served_endpoints)
            body = await read_body(request, self.max_body_bytes, self.body_timeout_s)
            content = await run_in_threadpool(self._run, endpoint, body, request_id)
        except RequestProblem as problem:
            return self._problem(problem, request_id, endpoint if served else None, started)
        except Exception as exc:  # noqa: BLE001 - the caller gets JSON, the log gets the stack
            logger.exception("request %s to %s failed in the gateway", request_id, endpoint)
            return self._problem(problems.internal_error(exc, self.debug), request_id, endpoint, started)
        return self._answer(200, content, request_id, endpoint, started)

    def _problem(self, problem: RequestProblem, request_id: str, endpoint: str | None, started: float) -> Response:
        body = codec.dumps(problem.body(request_id, endpoint))
        return self._answer(problem.status, body, request_id, endpoint, started, problem.reason, problem.headers)

    def endpoint_route(self, endpoint: str) -> Any:
        async def post_endpoint(request: Request) -> Response:
            return await self.post(request, endpoint)

        return post_endpoint

    async def post_any(self, request: Request) -> Response:
        """Endpoints with no route of their own: those a default binding serves, and 404s."""
        endpoint = "/" + request.path_params["path"]
        if endpoint in RESERVED_PATHS and not self.backend.serves(endpoint):
            # a POST there is a Flow request only where an executor serves it (Jina's
            # executors may bind /status); otherwise the path is the gateway's, GET only
            raise HTTPException(405, f"{endpoint} answers GET only", headers={"Allow": "GET"})
        return await self.post(request, endpoint)

    async def status(self, runtime: bool = False) -> Response:
        """The Flow: name, executors with shards, polling and needs, version, ready.
        ``runtime=true``: deployed executors are asked what they report of themselves (one
        invocation per shard: not for health checks); running embedded ones always are."""
        return Response(codec.dumps(await run_in_threadpool(self.backend.status, runtime)), media_type=JSON)

    async def page(self, request: Request) -> Response:
        """The Flow drawn, with each executor's figures read from ``/metrics`` by the page;
        the page module is imported on the first visit, not on a cold start."""
        from faasflow.serve.page import HEADERS, render_page

        described = await run_in_threadpool(self.backend.status, False)
        return Response(render_page(described), media_type="text/html", headers=HEADERS)

    async def icon(self, request: Request) -> Response:
        from faasflow.serve.page import ICON, ICON_TYPE

        return Response(ICON, media_type=ICON_TYPE, headers={"Cache-Control": "max-age=86400"})

    async def render_metrics(self) -> Response:
        """Prometheus metrics, text exposition format."""
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        request_id = request_id_of(request)
        reason = _STATUS_REASONS.get(exc.status_code, "http_error")
        body = problems.error_body(exc.status_code, reason, str(exc.detail), request_id)
        headers = {**(exc.headers or {}), REQUEST_ID_HEADER: request_id}
        return Response(codec.dumps(body), status_code=exc.status_code, media_type=JSON, headers=headers)

    async def unexpected_error(self, request: Request, exc: Exception) -> Response:
        request_id = request_id_of(request)
        body = problems.internal_error(exc, self.debug).body(request_id)
        return Response(codec.dumps(body), status_code=500, media_type=JSON, headers={REQUEST_ID_HEADER: request_id})


def _operation_id(endpoint: str, taken: set[str]) -> str:
    base = "post_" + ("".join(c if c.isalnum() else "_" for c in endpoint.strip("/")) or "root")
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _check_backend(backend: Any) -> Backend:
    """Refuse anything but a Backend at once, rather than on the first request."""
    if not isinstance(backend, Backend):
        raise TypeError(f"create_app() takes a Backend, not {type(backend).__name__}; to serve a started Flow, "
                        "pass EmbeddedBackend(flow) (from faasflow.embedded)")
    return backend


def create_app(backend: Backend, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, debug: bool = False,
               title: str | None = None, body_timeout_s: float | None = DEFAULT_BODY_TIMEOUT_S,
               max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> FastAPI:
    """The gateway app over ``backend``: a started Flow's ``EmbeddedBackend`` here, Step
    Functions in Lambda.

    ``max_body_bytes`` refuses larger bodies with 413; ``body_timeout_s`` answers 408 and
    closes the connection when a body is not fully received within that many seconds
    (None: wait forever); ``max_response_bytes`` replaces a larger answer with a 422
    ``response_too_large``; ``debug`` puts executors' stacks in 500 answers.
    """
    backend = _check_backend(backend)
    metrics = GatewayMetrics(backend.served_endpoints)
    backend.observe_executors(metrics)
    gateway = Gateway(backend, metrics, max_body_bytes, debug, body_timeout_s, max_response_bytes)
    app = FastAPI(
        title=title or f"{backend.name} (faasflow gateway)",
        version=__version__,
        description="Send documents through the Flow: `POST /{endpoint}` with `{\"data\": [...], "
                    "\"parameters\": {...}}`, as Jina's REST gateway takes them.",
        redoc_url=None,
        telemetry=NO_TELEMETRY,
    )
    # The endpoints are plain Starlette routes: they take the raw body (the codec decodes
    # it), so FastAPI's per-request dependency solving would be pure cost. Their OpenAPI
    # entries are written by _openapi instead.
    operations: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for endpoint in backend.served_endpoints:
        if "{" in endpoint or "}" in endpoint:
            continue  # not a literal route path; the catch-all route serves it
        app.router.add_route(endpoint, gateway.endpoint_route(endpoint), methods=["POST"], include_in_schema=False)
        operations[endpoint] = {"post": {
            "tags": ["endpoints"], "summary": f"Run {endpoint}", "operationId": _operation_id(endpoint, taken),
            "description": f"Send documents through the Flow's {endpoint} endpoint.",
            "requestBody": ENDPOINT_BODY, "responses": ENDPOINT_RESPONSES}}
    app.add_api_route("/status", gateway.status, methods=["GET"], tags=["gateway"], summary="Flow status",
                      operation_id="get_status",
                      responses={200: {"description": "the Flow", "content": {JSON: _schema_ref("FlowStatus")}}})
    app.add_api_route("/metrics", gateway.render_metrics, methods=["GET"], tags=["gateway"],
                      summary="Prometheus metrics", operation_id="get_metrics",
                      responses={200: {"description": "text exposition format",
                                       "content": {"text/plain": {"schema": {"type": "string"}}}}})
    # HTML for people, not part of the API (GET and HEAD; a POST / is a Flow request only
    # where an executor serves "/", as for the other reserved paths)
    app.router.add_route("/", gateway.page, methods=["GET"], include_in_schema=False)
    app.router.add_route("/favicon.ico", gateway.icon, methods=["GET"], include_in_schema=False)
    app.router.add_route("/{path:path}", gateway.post_any, methods=["POST"], include_in_schema=False)
    app.add_exception_handler(HTTPException, gateway.http_error)
    app.add_exception_handler(Exception, gateway.unexpected_error)
    app.openapi = lambda: _openapi(app, operations, getattr(backend, "parameter_schemas", None))  # type: ignore[method-assign]
    app.state.backend = backend
    app.state.metrics = metrics
    idempotency.install(app, backend, max_body_bytes, body_timeout_s)  # Idempotency-Key: a repeat runs nothing twice
    return app


def _openapi(app: FastAPI, operations: dict[str, dict[str, Any]], declared: Any = None) -> dict[str, Any]:
    """FastAPI's schema plus the endpoints and the body models, built on the first request
    for it; an endpoint whose executors declare parameter models shows them in its body.
    (``declared``: the backend's ``parameter_schemas``, which a Backend may leave out.)"""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        from faasflow.serve.schema import components, endpoint_parameters, request_body

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = components()
        parameter_schemas = declared() if declared is not None else {}
        for endpoint, operation in operations.items():
            models, found = endpoint_parameters(endpoint, parameter_schemas)
            if models:
                schemas.update(found)
                body = {"required": False, "content": {JSON: {"schema": request_body(models)}}}
                operation["post"] = {**operation["post"], "requestBody": body}
        schema["paths"] = {**operations, **schema.get("paths", {})}
        schema.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
        app.openapi_schema = schema
    return app.openapi_schema
