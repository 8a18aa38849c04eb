"""Idempotent requests on AWS: the gateway function answers a repeated ``Idempotency-Key``
with the answer it kept, through Powertools' idempotency utility on a DynamoDB table.

The rules are the local gateway's (``faasflow.serve.idempotency``): the key comes from the
``Idempotency-Key`` header (any case), the request it stands for is method, path and body
(checked with Powertools' payload validation: another body is a 422), a repeat while the
first still runs is a 409, and only the Flow's own answers (2xx, 4xx) are kept: a 5xx is
raised through Powertools, which then deletes the in-progress record so a retry runs again.
A record left in progress by a function that timed out or crashed expires with the
invocation's remaining time (Powertools reads it from the Lambda context).

DynamoDB items hold at most 400 KB: an answer whose record would be larger (measured as
Powertools writes it, JSON with non-ASCII escaped) keeps its body in the payload storage
(``payloads/idempotency/``, expired by the bucket's lifecycle rule, a day, longer than the
longest window) and the record holds where.

Keys are per caller: with ``auth: api_key`` or ``auth: iam`` the caller's API key id or
IAM identity is part of the key, so one caller's key never answers another's request. When
the table cannot be read or written, the request is answered 503 (retry later) rather
than run without the guarantee; when only keeping the answer failed, the answer is sent
(not kept: a repeat runs again).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, cast

from faasflow.plan import DEFAULT_IDEMPOTENCY_TTL_S
from faasflow.serve.idempotency import (
    KEY_HEADER,
    KEY_PATTERN,
    REPLAYED_HEADER,
    fingerprint,
    in_progress,
    invalid_key,
    kept,
    key_reused,
    problem_answer,
)
from faasflow.serve.problems import RequestProblem
from faasflow.wire import IDEMPOTENCY_TABLE_ENV

TABLE_ENV = IDEMPOTENCY_TABLE_ENV
INLINE_RECORD_BYTES = 300_000  # a kept answer in its DynamoDB item (400 KB at most); larger go to payload storage
LambdaHandler = Callable[[Any, Any], Any]


class _NotKept(Exception):
    """An answer that must not be kept (a 5xx): raised through Powertools, which then
    deletes the in-progress record, and answered as it is."""

    def __init__(self, response: dict[str, Any]):
        super().__init__(f"answer {response.get('statusCode')} is not kept")
        self.response = response


def guard(handler: LambdaHandler, config: Mapping[str, Any]) -> LambdaHandler:
    """``handler`` made idempotent when the template gave the function a table and the Flow
    keeps answers (``idempotency_ttl_s`` > 0); else ``handler`` itself."""
    table = os.environ.get(TABLE_ENV)
    ttl = int(config.get("idempotency_ttl_s", DEFAULT_IDEMPOTENCY_TTL_S))
    if not table or ttl <= 0:
        return handler
    return IdempotentGateway(handler, table, ttl)


class IdempotentGateway:
    """The gateway's Lambda handler, run once per ``Idempotency-Key`` within the window."""

    def __init__(self, handler: LambdaHandler, table: str, ttl_s: int, persistence: Any = None):
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        from faasflow.aws import aws_client

        self.handler = handler
        self._answer: dict[str, Any] | None = None  # this invocation's answer, once the Flow gave it
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="fingerprint",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl_s,
            hash_function="sha256",
            response_hook=_replayed,
        )
        self.persistence = persistence or DynamoDBPersistenceLayer(table_name=table,
                                                                   boto3_client=aws_client("dynamodb"))
        self._once = idempotent_function(self._run, data_keyword_argument="request",
                                         persistence_store=self.persistence, config=self.config,
                                         output_serializer=cast(Any, AnswerSerializer()))  # duck-typed: no import

    def __call__(self, event: Mapping[str, Any], context: Any) -> Any:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        method = str(event.get("httpMethod") or (event.get("requestContext") or {}).get("http", {}).get("method", ""))
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        key = headers.get(KEY_HEADER)
        if method.upper() != "POST" or key is None:
            return self.handler(event, context)
        path = str(event.get("path") or event.get("rawPath") or "/")
        given = headers.get("x-request-id")
        request_id = given if given and len(given) <= 128 and KEY_PATTERN.fullmatch(given) else key[:128]
        if not KEY_PATTERN.fullmatch(key):
            return _problem(invalid_key(key), request_id, path)
        self.config.register_lambda_context(context)  # an in-progress record expires with this invocation
        request = {"key": f"{_caller(event)}\n{key}",
                   "fingerprint": fingerprint("POST", _path_with_query(event, path), _body(event))}
        self._answer = None
        try:
            return self._once(event, context, request=request)
        except _NotKept as not_kept:
            return not_kept.response
        except IdempotencyAlreadyInProgressError:
            return _problem(in_progress(key), request_id, path)
        except IdempotencyValidationError:
            return _problem(key_reused(key), request_id, path)
        except IdempotencyPersistenceLayerError as exc:
            if self._answer is not None:  # the Flow ran; only keeping its answer failed: send it, not kept
                return self._answer
            return _problem(store_unavailable(exc), request_id, path)

    def _run(self, event: Mapping[str, Any], context: Any, *, request: dict[str, str]) -> dict[str, Any]:
        response = self.handler(event, context)
        if not kept(int(response.get("statusCode", 500))):
            raise _NotKept(response)
        self._answer = dict(response)
        return dict(response)


class AnswerSerializer:
    """Powertools output serializer: an answer as its DynamoDB record holds it, a large body
    as a reference to the payload storage."""

    def to_dict(self, data: Any) -> dict[str, Any]:
        answer = dict(data)
        body = answer.get("body")
        if isinstance(body, str) and len(json.dumps(answer)) > INLINE_RECORD_BYTES:  # as Powertools encodes it
            from faasflow.runtime.payload import payload_storage

            storage = payload_storage()
            key = f"idempotency/{hashlib.sha256(body.encode()).hexdigest()}.body"
            storage.put(key, body.encode())
            answer["body"] = None
            answer["stored_body"] = {"store": storage.url, "key": key}
        return answer

    def from_dict(self, data: dict[str, Any]) -> Any:
        answer = dict(data)
        stored = answer.pop("stored_body", None)
        if stored is not None:
            from faasflow.storage import open_storage

            body = open_storage(stored["store"]).get(stored["key"])
            if body is None:
                raise RuntimeError(f"the kept answer {stored['store']}{stored['key']} is missing (expired?)")
            answer["body"] = body.decode()
        return answer


def _caller(event: Mapping[str, Any]) -> str:
    """Who is asking, as API Gateway authenticated them (API key id, IAM identity); empty
    for an open API, where every caller is the same."""
    identity = (event.get("requestContext") or {}).get("identity") or {}
    return str(identity.get("apiKeyId") or identity.get("userArn") or "")


def store_unavailable(exc: Exception) -> RequestProblem:
    """503: the idempotency table could not be read or written; nothing ran, retry later."""
    return RequestProblem(503, "idempotency_store_unavailable",
                          f"the idempotency store is unavailable ({type(exc).__name__}); nothing ran, retry later",
                          headers={"Retry-After": "1"})


def _replayed(response: Any, idempotent_data: Any) -> Any:
    """Powertools' response hook: a replayed answer says so."""
    if isinstance(response, dict):
        response = {**response, "headers": {**(response.get("headers") or {}), REPLAYED_HEADER: "true"}}
        if response.get("multiValueHeaders"):
            response["multiValueHeaders"] = {**response["multiValueHeaders"], REPLAYED_HEADER: ["true"]}
    return response


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode() if isinstance(body, str) else bytes(body)


def _path_with_query(event: Mapping[str, Any], path: str) -> str:
    """The path and query as the local gateway fingerprints them (``a=1&b=2``, in order)."""
    raw = event.get("rawQueryString")
    if raw:
        return f"{path}?{raw}"
    query = event.get("queryStringParameters") or {}
    return f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}" if query else path


def _problem(problem: RequestProblem, request_id: str, path: str) -> dict[str, Any]:
    """An API Gateway proxy answer with the gateway's error body."""
    status, headers, body = problem_answer(problem, request_id, path)
    return {"statusCode": status, "headers": headers, "body": body.decode(), "isBase64Encoded": False}
