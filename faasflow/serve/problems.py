"""The gateway's error answers: JSON with the status, a reason a program can switch on, a
sentence for people and the request id; never a traceback unless debug is on."""

from __future__ import annotations

import traceback
from typing import Any

from faasflow.errors import FlowError, UnknownTargetError
from faasflow.parameters import ParameterError

INVALID_REQUEST = "invalid_request"
UNKNOWN_ENDPOINT = "unknown_endpoint"
BODY_TOO_LARGE = "body_too_large"
BODY_TIMEOUT = "body_timeout"
RESPONSE_TOO_LARGE = "response_too_large"
EXECUTOR_FAILED = "executor_failed"
BAD_REQUEST = "bad_request"
UNKNOWN_TARGET = "unknown_target_executor"
INTERNAL_ERROR = "internal_error"


class RequestProblem(Exception):
    """A request the gateway answers with an error status (raised while handling it)."""

    def __init__(self, status: int, reason: str, detail: str, *, headers: dict[str, str] | None = None,
                 **fields: Any):
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = headers or {}  # extra answer headers, e.g. Connection: close
        self.fields = fields

    def body(self, request_id: str, exec_endpoint: str | None = None) -> dict[str, Any]:
        return error_body(self.status, self.reason, self.detail, request_id, exec_endpoint, self.fields)


def error_body(status: int, reason: str, detail: str, request_id: str, exec_endpoint: str | None = None,
               fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "error": {"status": status, "reason": reason, "detail": detail, **(fields or {})},
        "header": {"request_id": request_id, "exec_endpoint": exec_endpoint},
    }


MAX_LISTED_ERRORS = 20


def invalid_request(errors: list[dict[str, Any]]) -> RequestProblem:
    """422, listing the problems as FastAPI does: ``loc`` (where), ``msg`` (what); the
    first few only, so that a body of a million bad documents gets a short answer."""
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return RequestProblem(422, INVALID_REQUEST, f"{where}: {first['msg']}{more}",
                          errors=errors[:MAX_LISTED_ERRORS], error_count=len(errors))


def unknown_endpoint(endpoint: str, served: list[str]) -> RequestProblem:
    detail = f"endpoint {endpoint!r} is not served by this Flow; served endpoints: {', '.join(served) or '(none)'}"
    return RequestProblem(404, UNKNOWN_ENDPOINT, detail, endpoint=endpoint, served=served)


def body_too_large(limit: int) -> RequestProblem:
    return RequestProblem(413, BODY_TOO_LARGE, f"the request body is over the limit of {limit} bytes",
                          limit_bytes=limit)


def body_timeout(timeout_s: float) -> RequestProblem:
    """408: the body did not arrive in time; the connection is closed after the answer,
    since the rest of the body may still be on its way."""
    return RequestProblem(408, BODY_TIMEOUT, f"the request body was not received within {timeout_s:g} s",
                          headers={"Connection": "close"}, timeout_s=timeout_s)


def response_too_large(size: int, limit: int) -> RequestProblem:
    """422: the answer to this request would be over the gateway's limit. The request is
    the cause (too many documents, or too large a ``limit`` or ``top_k``), so it is the
    caller's to change: send fewer documents per request (the Client's
    ``request_size``) or ask for fewer matches (``parameters.limit``)."""
    return RequestProblem(422, RESPONSE_TOO_LARGE,
                          f"the answer would be {size} bytes, over the limit of {limit} bytes; send fewer "
                          "documents per request (request_size) or ask for fewer matches (a smaller limit)",
                          size_bytes=size, limit_bytes=limit)


def executor_failed(error: FlowError, debug: bool) -> RequestProblem:
    """500 naming executor, shard and endpoint; the executor's stack only with ``debug``.
    An executor's ``BadRequest`` is the caller's mistake: 422 instead (``bad_request``)."""
    if error.bad_request:
        return bad_request(error, debug)
    fields = error.to_dict()
    if debug:
        fields["traceback"] = "".join(traceback.format_exception(error.cause))
    return RequestProblem(500, EXECUTOR_FAILED, str(error), **fields)


def bad_request(error: FlowError, debug: bool) -> RequestProblem:
    """422: an executor refused the request (it raised ``faasflow.BadRequest``); the body
    names executor, shard, endpoint, and the document and field when the executor did."""
    fields: dict[str, Any] = {
        "executor": error.executor, "shard": error.shard, "endpoint": error.endpoint,
        "type": error.error_type, "message": str(error.cause), "doc_id": error.doc_id, "field": error.field,
    }
    if isinstance(error.cause, ParameterError):  # a declared model refused them: where, as FastAPI says it
        fields["errors"] = error.cause.problems()
    if debug:
        fields["traceback"] = "".join(traceback.format_exception(error.cause))
    return RequestProblem(422, BAD_REQUEST, str(error), **fields)


def unknown_target(error: UnknownTargetError) -> RequestProblem:
    """422: the request's ``target_executor`` matches no executor (or is no regular expression)."""
    return RequestProblem(422, UNKNOWN_TARGET, str(error), field=error.field, target_executor=error.pattern,
                          executors=error.executors)


def internal_error(exc: BaseException, debug: bool) -> RequestProblem:
    fields = {"traceback": "".join(traceback.format_exception(exc))} if debug else {}
    detail = f"{type(exc).__name__}: {exc}" if debug else "the gateway failed to handle the request; see its log"
    return RequestProblem(500, INTERNAL_ERROR, detail, **fields)
