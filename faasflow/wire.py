"""The hop contract: the shapes that cross every boundary between a Flow's stages, and
the limits they live under. Every byte of them is written and read by ``faasflow.codec``.

Like Mangum's ``types.py``, these are plain TypedDicts at the bottom of the package: the
compiler writes them into the state machine, the Lambda handler, the gateway, ingest and
the SageMaker server read and answer them, and the simulated state machine in the tests
passes them exactly as Step Functions does.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, final

# The parameters key under which executors' dict results travel (Jina's name).
RESULTS_KEY = "__results__"

# Step Functions caps a state at 256 KB: a run's state may hold this many bytes of
# documents inline; above it, a hop's documents travel as a claim check (``StoredDocs``).
STATE_BUDGET = 200_000
DEFAULT_INLINE_LIMIT = STATE_BUDGET
# A batch split's documents, inline in a Distributed Map child's state.
BATCH_INLINE_LIMIT = 40_000
# How deep a tag value may nest: what is accepted can always be written back (the JSON
# writer stops at 255 levels, and a tag sits a few levels down in a document).
MAX_TAG_DEPTH = 128
# How deep matches and chunks may nest (each level is three JSON levels: list, doc, field).
MAX_DOC_DEPTH = 16

Mode = Literal["single", "ANY", "ALL"]

# The members of the unions below are final (closed): a checker then tells them apart by
# a key they alone have (``"inline" in ref``, ``"merge" in tree``).


@final
class InlineDocs(TypedDict):
    """Documents carried in the state itself (``codec.docs_to_list``)."""

    inline: list[dict[str, Any]]


@final
class StoredDocs(TypedDict):
    """A claim check: documents over the inline limit, stored once in the payload store."""

    store: str
    key: str
    count: int
    bytes: int


DocsRef = InlineDocs | StoredDocs


@final
class StageTree(TypedDict):
    """A stage's output: ``mode`` says how its shards' answers combine."""

    stage: str
    mode: Mode


@final
class MergeTree(TypedDict):
    """A join: its inputs reduced by id."""

    merge: list[InputTree]


@final
class ShardsTree(TypedDict):
    """A sharded stage's answers, one per shard, not combined: what its ``uses_after``
    executor gets (as ``docs_matrix``), in place of the stage's merge."""

    shards: str
    mode: Mode


InputTree = StageTree | MergeTree | ShardsTree


class RequestInfo(TypedDict):
    endpoint: str
    parameters: dict[str, Any]
    request_id: str
    # Jina's per-request regular expression: only the stages of the executors it matches run
    # their executor; the others' hops pass their input through (``Envelope.passed``)
    target_executor: NotRequired[str]


class ErrorInfo(TypedDict, total=False):
    """An executor's failure, as ``FlowError.to_dict`` writes it."""

    executor: str
    shard: int
    endpoint: str
    type: str
    message: str
    bad_request: bool  # the executor raised faasflow.BadRequest: the caller's mistake (HTTP 422)
    doc_id: str  # a bad request's document, when the executor named one
    field: str  # a bad request's field, when the executor named one
    committed_shards: list[int]  # a sharded stage's other failures: the shards that finished (and stored)
    failed_shards: list[int]  # ... and those that failed


class Envelope(TypedDict, total=False):
    """What one stage shard leaves in the state."""

    docs: DocsRef
    results: dict[str, Any] | None
    positions: list[int] | None  # ANY: the input positions this shard owned
    input_ids: list[str]  # shard 0 of a sharded stage: the stage's input order
    skipped: bool  # ANY: this shard owned none of the docs and was not run
    passed: bool  # the request's target_executor does not match: ``docs`` is the stage's input, unchanged
    # shard 0: the dict results upstream of the stage (its executor's ``parameters['__results__']``),
    # carried on for later stages; absent when there are none
    upstream: dict[str, Any]
    error: ErrorInfo


class SingleValue(TypedDict):
    """A one-shard stage's envelope, as a Task's ``ResultSelector`` leaves it."""

    value: Envelope


# What each stage name in ``values`` holds: a single envelope, or one per shard.
StageValue = SingleValue | list[Envelope]


class StageEvent(TypedDict):
    """The event one stage shard gets (a Lambda Task's payload, a SageMaker invocation)."""

    request: RequestInfo
    stage: str
    shard: int
    mode: Mode
    input: str  # an InputTree, as codec text: ASL would read keys ending in ``.$``
    inline_limit: int
    values: dict[str, StageValue]


class RunInput(TypedDict):
    """What the gateway starts a synchronous run with."""

    request: RequestInfo
    outputs: dict[str, SingleValue]


class RunOutput(TypedDict, total=False):
    """What a synchronous run ends with: the answer's tree (codec text) and the values it
    reads, or the error that ended it."""

    answer: str
    request: RequestInfo
    values: dict[str, StageValue]
    error: ErrorInfo
    shards: list[Envelope]  # with an error of a sharded stage: every shard's envelope, to say which committed


class GatewayConfig(TypedDict):
    """What the gateway function knows of the Flow (it imports no executor code)."""

    name: str
    endpoints: list[str]
    any_endpoint: bool
    executors: list[dict[str, Any]]
    answer: list[str]
    inline_limit: int
    # how long (seconds) an answer is kept for a repeat of its Idempotency-Key; 0: not kept
    idempotency_ttl_s: NotRequired[int]


class StatusRequest(TypedDict):
    faasflow: Literal["status"]


# What the gateway sends an executor function for GET /status?runtime=true, instead of a hop.
STATUS_REQUEST: StatusRequest = {"faasflow": "status"}


def is_status_request(event: Any) -> bool:
    return isinstance(event, dict) and event == STATUS_REQUEST


# Idempotent requests: the header a Client sends (the IETF draft's name), the reason of the
# 409 a gateway answers while the same key still runs, and the variable naming the table the
# gateway function keeps answers in on AWS.
IDEMPOTENCY_KEY_HEADER = "idempotency-key"
IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
IDEMPOTENCY_TABLE_ENV = "FAASFLOW_IDEMPOTENCY_TABLE"
