"""The OpenAPI description of the gateway's bodies, as pydantic models.

Used for the schema only: bodies are decoded by the document codec, the one wire format.
Imported when ``/openapi.json`` is first asked for, never on a cold start.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from faasflow.parameters import endpoint_schema

REF = "#/components/schemas/{model}"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NDArray(Strict):
    """A numpy array: numpy's dtype string, the shape, and the raw bytes in base64."""

    dtype: str = Field(examples=["<f4"])
    shape: list[int] = Field(examples=[[3]])
    data: str = Field(description="the array's bytes, base64", examples=["AACAPwAAAEAAAEBA"])


class Score(Strict):
    value: float | None = None
    op_name: str | None = None
    description: str | None = None
    ref_id: str | None = None


class Document(Strict):
    """A document in the codec's JSON form; empty fields are left out."""

    id: str | None = Field(None, description="made up when left out")
    text: str | None = None
    uri: str | None = None
    mime_type: str | None = None
    blob: str | None = Field(None, description="bytes, base64")
    tensor: NDArray | list[float] | None = Field(None, description="an NDArray, or a list of numbers (float32)")
    embedding: NDArray | list[float] | None = Field(None, description="an NDArray, or a list of numbers (float32)")
    tags: dict[str, Any] | None = None
    scores: dict[str, Score | float] | None = None
    matches: list[Document] | None = None
    chunks: list[Document] | None = None
    # docarray v1's structure and weighting fields
    parent_id: str | None = Field(None, description="the document a chunk or match belongs to")
    granularity: int | None = Field(None, description="a chunk's depth: its parent's plus one")
    adjacency: int | None = Field(None, description="a match's depth: its parent's plus one")
    weight: float | None = None
    offset: float | None = None
    modality: str | None = None
    location: list[Any] | None = None
    evaluations: dict[str, Score | float] | None = None


class FlowRequest(Strict):
    """Jina's REST request: the documents, and parameters every executor sees."""

    data: list[Document] | None = Field(None, examples=[[{"text": "hello world"}]])
    parameters: dict[str, Any] | None = Field(None, examples=[{"limit": 3}])
    target_executor: str | None = Field(
        None, description="a regular expression: only the executors whose names it matches (from the start, as "
                          "Python's re.match) run; the others pass the documents through", examples=["indexer"])


class Header(BaseModel):
    request_id: str
    exec_endpoint: str | None


class FlowAnswer(BaseModel):
    """Jina's REST answer; executors' dict results are under ``parameters.__results__``."""

    data: list[Document]
    parameters: dict[str, Any]
    header: Header


class Problem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorDetail(BaseModel):
    """What went wrong; the fields after ``detail`` depend on ``reason``."""

    status: int
    reason: str = Field(description="invalid_request, bad_request, unknown_endpoint, unknown_target_executor, "
                                    "body_too_large, executor_failed, internal_error, not_found or "
                                    "method_not_allowed")
    detail: str
    errors: list[Problem] | None = Field(None, description="invalid_request: where and what, the first 20")
    error_count: int | None = None
    endpoint: str | None = Field(None, description="unknown_endpoint, executor_failed, bad_request")
    served: list[str] | None = Field(None, description="unknown_endpoint: the endpoints the Flow serves")
    limit_bytes: int | None = None
    executor: str | None = Field(None, description="executor_failed, bad_request: the executor that raised")
    shard: int | None = None
    type: str | None = Field(None, description="executor_failed, bad_request: the exception's type")
    message: str | None = Field(None, description="executor_failed, bad_request: the exception's message")
    doc_id: str | None = Field(None, description="bad_request: the document the executor refused, if it said")
    field: str | None = Field(None, description="bad_request: the document's field or parameter at fault, if it "
                                                "said; unknown_target_executor: target_executor")
    target_executor: str | None = Field(None, description="unknown_target_executor: the pattern sent")
    executors: list[str] | None = Field(None, description="unknown_target_executor: the Flow's executors")
    traceback: str | None = Field(None, description="only when the gateway runs with debug on")


class ErrorAnswer(BaseModel):
    error: ErrorDetail
    header: Header


class ExecutorStatus(BaseModel):
    name: str
    uses: str
    shards: int
    replicas: int
    needs: list[str]
    endpoints: list[str]
    polling: dict[str, str]
    uses_before: str | None = Field(None, description="the executor that gets the input before the shards do")
    uses_after: str | None = Field(None, description="the executor that merges the shards' answers (docs_matrix)")
    runtime: list[dict[str, Any]] | None = Field(
        None, description="per shard, what a running executor reports (e.g. its model's execution provider)")


class FlowStatus(BaseModel):
    name: str
    version: str
    backend: str
    ready: bool
    endpoints: list[str]
    executors: list[ExecutorStatus]
    answer: list[str]


MODELS: tuple[type[BaseModel], ...] = (FlowRequest, FlowAnswer, ErrorAnswer, FlowStatus)


def components() -> dict[str, Any]:
    """Every model's JSON schema, keyed by name, for ``components.schemas``."""
    _, top = models_json_schema([(model, "validation") for model in MODELS], ref_template=REF)
    return top.get("$defs", {})


def endpoint_parameters(endpoint: str, schemas: dict[str, dict[str, dict[str, Any] | None]],
                        ) -> tuple[list[str], dict[str, Any]]:
    """The component names of the parameter models the executors declare for ``endpoint``,
    and the component schemas (their ``$defs`` hoisted beside them, under prefixed names)."""
    models: list[str] = []
    found: dict[str, Any] = {}
    for executor, bindings in schemas.items():
        _, schema = endpoint_schema(bindings, endpoint)
        if schema is None:
            continue
        name = _component_name(f"Parameters_{executor}_{endpoint}")
        definitions = schema.get("$defs", {})
        renamed = {ref: f"{name}_{_component_name(ref)}" for ref in definitions}
        found[name] = _rewrite_refs({k: v for k, v in schema.items() if k != "$defs"}, renamed)
        found.update({renamed[ref]: _rewrite_refs(definition, renamed) for ref, definition in definitions.items()})
        found[name]["description"] = (f"What executor {executor!r} takes as parameters on {endpoint} "
                                      "(the request's, with those nested under its name on top)")
        models.append(name)
    return models, found


def request_body(parameter_components: list[str]) -> dict[str, Any]:
    """An endpoint's body schema: FlowRequest, its ``parameters`` fitting every model."""
    return {"allOf": [{"$ref": REF.format(model="FlowRequest")}, {
        "type": "object",
        "properties": {"parameters": {"allOf": [{"$ref": REF.format(model=name)} for name in parameter_components]}},
    }]}


def _rewrite_refs(node: Any, renamed: dict[str, str]) -> Any:
    """``node`` with its ``#/$defs/X`` references pointing at the hoisted components."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**node, "$ref": REF.format(model=renamed[ref.removeprefix("#/$defs/")])}
        return {key: _rewrite_refs(value, renamed) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(value, renamed) for value in node]
    return node


def _component_name(text: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in text).strip("_")
