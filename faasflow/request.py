"""Requests and responses: batching a caller's inputs, and the response object Jina's
``on_done`` / ``on_error`` / ``on_always`` callbacks receive."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from faasflow.array import DocumentArray
from faasflow.document import Document, new_id
from faasflow.errors import BadInputError, FlowError

SUCCESS = 0
ERROR = 3  # Jina's status code for an executor error


@dataclass
class Response:
    """One request batch's answer: ``.docs``, ``.parameters`` and ``.header`` as in Jina."""

    docs: DocumentArray
    parameters: dict[str, Any]
    header: SimpleNamespace
    error: FlowError | None = field(default=None, repr=False)

    @property
    def data(self) -> SimpleNamespace:
        return SimpleNamespace(docs=self.docs)

    @property
    def status(self) -> SimpleNamespace:
        return self.header.status

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer of the HTTP gateway (Jina's REST shape); a failed batch's answer
        also carries its error (``FlowError.to_dict``: a bad request's doc id and field too)."""
        answer: dict[str, Any] = {
            "data": self.docs.to_list(),
            "parameters": self.parameters,
            "header": {"request_id": self.header.request_id, "exec_endpoint": self.header.exec_endpoint},
        }
        if self.error is not None:
            answer["error"] = self.error.to_dict()
        return answer


def new_request_id() -> str:
    """A random UUID (version 4) in hex, made from the random bytes Document ids are pooled
    from: ``uuid.uuid4()`` makes a system call per request, which was most of an embedded
    request's bookkeeping."""
    raw = new_id()
    return f"{raw[:12]}4{raw[13:16]}{'89ab'[int(raw[16], 16) & 3]}{raw[17:]}"


def make_response(
    request_id: str, endpoint: str, docs: DocumentArray, parameters: dict[str, Any], error: FlowError | None = None
) -> Response:
    if error is None:
        status = SimpleNamespace(code=SUCCESS, description="", exception=None)
    else:
        status = SimpleNamespace(
            code=ERROR,
            description=str(error),
            exception=SimpleNamespace(
                name=error.error_type, args=[str(error.cause)], executor=error.executor, shard=error.shard, stacks=[],
                bad_request=error.bad_request, doc_id=error.doc_id, field=error.field,
            ),
        )
    header = SimpleNamespace(request_id=request_id, exec_endpoint=endpoint, status=status)
    return Response(docs=docs, parameters=parameters, header=header, error=error)


def iter_inputs(inputs: Any) -> Iterator[Document]:
    """Documents from a Document, DocumentArray, iterable, generator or generator function.
    An item that is a pair ``(doc, groundtruth)`` is its ``doc``, as Jina 3's client sends
    it (the groundtruth goes nowhere)."""
    if inputs is None:
        return iter(())
    if callable(inputs) and not isinstance(inputs, (Document, DocumentArray)):
        inputs = inputs()
    if isinstance(inputs, Document):
        return iter((inputs,))
    if isinstance(inputs, DocumentArray):
        return iter(inputs)
    if isinstance(inputs, (str, bytes, dict)) or not isinstance(inputs, Iterable):
        raise BadInputError(
            f"inputs must be a Document, a DocumentArray or an iterable of Documents, not {type(inputs).__name__}"
        )
    return _checked(inputs)


def _checked(items: Iterable[Any]) -> Iterator[Document]:
    for position, item in enumerate(items):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Document):
            item = item[0]
        if not isinstance(item, Document):
            raise BadInputError(f"input {position} is a {type(item).__name__}, not a Document")
        yield item


def batches(inputs: Any, request_size: int) -> Iterator[DocumentArray]:
    """Inputs cut into request batches of ``request_size`` documents (at least one batch)."""
    if not isinstance(request_size, int) or request_size < 1:
        raise BadInputError(f"request_size must be a positive integer, got {request_size!r}")
    batch: list[Document] = []
    sent = False
    for doc in iter_inputs(inputs):
        batch.append(doc)
        if len(batch) == request_size:
            yield DocumentArray._wrap(batch)
            sent = True
            batch = []
    if batch or not sent:
        yield DocumentArray._wrap(batch)


def total_of(inputs: Any) -> int | None:
    try:
        return len(inputs)
    except TypeError:
        return None


Callback = Callable[[Response], Any]
