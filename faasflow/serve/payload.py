"""Request bodies in Jina's REST shape, ``{"data": [docs], "parameters": {...}}``, decoded
with the document codec; every problem is located (``body.data.3``) for the 422 answer."""

from __future__ import annotations

from typing import Any

from faasflow import codec
from faasflow.array import DocumentArray
from faasflow.errors import BadInputError
from faasflow.serve.problems import invalid_request

REQUEST_FIELDS = ("data", "parameters", "target_executor")


def _problem(loc: list[str | int], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def parse_request_body(body: bytes) -> tuple[DocumentArray, dict[str, Any], str | None]:
    """The docs, parameters and ``target_executor`` (Jina's HTTP gateway field: a regular
    expression naming the executors to run; None when absent) of a request body. An empty
    body is an empty request."""
    if not body.strip():
        return DocumentArray(), {}, None
    try:
        payload = codec.loads(body)
    except BadInputError as exc:
        raise invalid_request([_problem(["body"], str(exc), "json_invalid")]) from None
    if not isinstance(payload, dict):
        raise invalid_request([_problem(["body"], f"must be a JSON object, not {_json_type(payload)}", "object_type")])
    problems = [_problem(["body", key], f"unknown field; known: {', '.join(REQUEST_FIELDS)}", "extra_forbidden")
                for key in payload if key not in REQUEST_FIELDS]
    parameters = payload.get("parameters")
    if parameters is None:
        parameters = {}
    elif not isinstance(parameters, dict):
        problems.append(_problem(["body", "parameters"], f"must be an object, not {_json_type(parameters)}",
                                 "dict_type"))
    else:
        try:  # what is accepted can be answered: parameters come back in the response
            parameters = codec.wire_form(parameters, "parameters")
        except BadInputError as exc:
            problems.append(_problem(["body", "parameters"], str(exc), "value_error"))
    target_executor = payload.get("target_executor")
    if target_executor is not None and not isinstance(target_executor, str):
        problems.append(_problem(["body", "target_executor"], "must be a string (a regular expression), not "
                                 f"{_json_type(target_executor)}", "string_type"))
    items = payload.get("data")
    docs = []
    if items is None:
        items = []
    elif not isinstance(items, list):
        problems.append(_problem(["body", "data"], f"must be a list of documents, not {_json_type(items)}",
                                 "list_type"))
        items = []
    for position, item in enumerate(items):
        try:
            docs.append(codec.document_from_dict(item))
        except Exception as exc:  # noqa: BLE001 - whatever a client sent, the answer is a 422
            message = str(exc) if isinstance(exc, BadInputError) else f"{type(exc).__name__}: {exc}"
            problems.append(_problem(["body", "data", position], message, "document_invalid"))
    if problems:
        raise invalid_request(problems)
    return DocumentArray._wrap(docs), parameters, target_executor


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
