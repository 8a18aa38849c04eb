"""What a Client raises when a gateway answers with an error.

Each error carries the HTTP status and the gateway's JSON body, and is also the error the
embedded Flow raises for the same mistake (an unknown endpoint is an UnknownEndpointError
either way), so code written against ``flow.post`` handles ``client.post`` alike.
"""

from __future__ import annotations

from typing import Any

from faasflow.errors import (
    BadInputError,
    BadRequest,
    FaasflowError,
    FlowError,
    RemoteError,
    UnknownEndpointError,
    UnknownTargetError,
)


class GatewayError(FaasflowError):
    """The gateway answered ``status`` with ``body`` (its JSON error, or the raw text)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None, request_id: str | None = None):
        Exception.__init__(self, message)
        self.status = status
        self.body = body
        self.request_id = request_id

    @property
    def detail(self) -> dict[str, Any]:
        """The ``error`` object of a faasflow gateway's body (empty for other bodies)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"]
        return {}


class GatewayUnavailable(GatewayError):
    """No answer: the connection failed, or the gateway stayed busy through every attempt."""


class GatewayConnectionError(GatewayUnavailable, ConnectionError):
    """No connection to the gateway (refused, unreachable, timed out): also the built-in
    ``ConnectionError``, which Jina's client raises for an unreachable gateway."""


class GatewayUnknownEndpointError(GatewayError, UnknownEndpointError):
    """404: the Flow behind the gateway does not serve the endpoint; ``served`` lists those it does."""

    def __init__(self, endpoint: str, served: list[str], status: int, body: Any, request_id: str | None):
        UnknownEndpointError.__init__(self, endpoint, served)
        self.status, self.body, self.request_id = status, body, request_id


class GatewayBadInputError(GatewayError, BadInputError):
    """422 or 413: the gateway refused the request as sent."""


class GatewayFlowError(GatewayError, FlowError):
    """500 from an executor: executor, shard and endpoint as with the embedded Flow's FlowError."""

    def __init__(self, detail: dict[str, Any], status: int, body: Any, request_id: str | None):
        self.executor = str(detail.get("executor"))
        self.shard = detail.get("shard")
        self.endpoint = str(detail.get("endpoint"))
        self.error_type = str(detail.get("type") or "Exception")
        message = str(detail.get("message", ""))
        self.bad_request = detail.get("reason") == "bad_request"
        self.doc_id = None if detail.get("doc_id") is None else str(detail["doc_id"])
        self.field = None if detail.get("field") is None else str(detail["field"])
        self.cause = (BadRequest.from_text(message, doc_id=self.doc_id, field=self.field) if self.bad_request
                      else RemoteError(message))
        self.committed_shards, self.failed_shards = detail.get("committed_shards"), detail.get("failed_shards")
        self.status, self.body, self.request_id = status, body, request_id
        Exception.__init__(self, str(detail.get("detail") or f"executor {self.executor!r} failed"))


class GatewayBadRequestError(GatewayBadInputError, GatewayFlowError):
    """422 ``bad_request``: an executor refused the request (it raised ``faasflow.BadRequest``).

    A 4xx the caller made, and the FlowError the embedded Flow raises for it (executor,
    shard, endpoint, ``doc_id``, ``field``), so either way of handling it works."""

    def __init__(self, detail: dict[str, Any], status: int, body: Any, request_id: str | None):
        GatewayFlowError.__init__(self, detail, status, body, request_id)


class GatewayUnknownTargetError(GatewayBadInputError, UnknownTargetError):
    """422 ``unknown_target_executor``: the request's ``target_executor`` matches no executor;
    the UnknownTargetError the embedded Flow raises for it."""

    def __init__(self, detail: dict[str, Any], status: int, body: Any, request_id: str | None):
        UnknownTargetError.__init__(self, str(detail.get("target_executor")), list(detail.get("executors") or []))
        self.args = (str(detail.get("detail") or self.message),)
        self.status, self.body, self.request_id = status, body, request_id


def error_from_answer(endpoint: str, status: int, body: Any, request_id: str | None) -> GatewayError:
    """The exception for a gateway's error answer: the most specific one its body allows."""
    detail = body.get("error") if isinstance(body, dict) else None
    detail = detail if isinstance(detail, dict) else {}
    reason = detail.get("reason")
    if reason == "unknown_endpoint":
        return GatewayUnknownEndpointError(endpoint, list(detail.get("served") or []), status, body, request_id)
    if reason == "executor_failed":
        return GatewayFlowError(detail, status, body, request_id)
    if reason == "bad_request":
        return GatewayBadRequestError(detail, status, body, request_id)
    if reason == "unknown_target_executor":
        return GatewayUnknownTargetError(detail, status, body, request_id)
    text = detail.get("detail") or (body if isinstance(body, str) else "") or "no detail"
    message = f"the gateway answered {status} to {endpoint}: {str(text)[:500]}"
    if status in (413, 422):
        return GatewayBadInputError(message, status, body, request_id)
    return GatewayError(message, status, body, request_id)
