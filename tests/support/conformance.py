"""The differential conformance suite's generators and runners: Hypothesis strategies for
Flows (chains, ``needs`` joins, 1-4 shards, ANY/ALL polling per endpoint) built from the
executors of ``tests.support.conformance_executors``, for documents (numpy, bytes and
nested tags, unicode, matches, chunks, embeddings of several dtypes) and for requests;
and one way to run a request embedded, served over HTTP and through the simulated state
machine, each answer reduced to its wire form so that the three can be compared."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from faasflow import Document, DocumentArray, Flow, codec
from faasflow.errors import FlowError, UnknownEndpointError
from tests.support import conformance_executors as executors

EXECUTORS_MODULE = executors.__name__
ENDPOINTS = ("/index", "/search", "/other")  # "/other": bound by no executor, served by default methods
POLLINGS: tuple[Any, ...] = ("ANY", "ALL", {"/search": "ALL", "*": "ANY"}, {"/index": "ALL", "*": "ANY"})
FAILURES = executors.RAISES + executors.REFUSALS


# --- Flows ---


@dataclass(frozen=True)
class ExecutorCase:
    """One ``Flow.add``: an executor class of the support module, by name, configured."""

    name: str
    uses: str
    uses_with: dict[str, Any] = field(default_factory=dict)
    shards: int = 1
    polling: Any = "ANY"
    needs: tuple[str, ...] = ("gateway",)

    def add_options(self, module: str) -> dict[str, Any]:
        """``Flow.add`` keyword arguments (``uses`` as ``module.Class``)."""
        return {"uses": f"{module}.{self.uses}", "name": self.name, "uses_with": dict(self.uses_with),
                "shards": self.shards, "polling": self.polling, "needs": list(self.needs)}


@dataclass(frozen=True)
class FlowCase:
    executors: tuple[ExecutorCase, ...]

    def flow(self, module: str = EXECUTORS_MODULE, name: str = "conformance") -> Flow:
        flow = Flow(name=name)
        for case in self.executors:
            flow = flow.add(**case.add_options(module))
        return flow

    def config(self, module: str, name: str) -> dict[str, Any]:
        """The Flow as Jina-style YAML data (``orchestrator/flow.yml``)."""
        return {"jtype": "Flow", "with": {"name": name},
                "executors": [case.add_options(module) for case in self.executors]}

    @property
    def names(self) -> list[str]:
        return [case.name for case in self.executors]

    def describe(self) -> str:
        return "; ".join(f"{c.name}={c.uses}{c.uses_with or ''} x{c.shards} {c.polling} <- {list(c.needs)}"
                         for c in self.executors)


def uses_with_for(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """``uses_with`` for an executor class of the support module."""
    if kind == "Tagger":
        return st.fixed_dictionaries({}, optional={"extras": st.booleans(), "key": st.sampled_from(["path", "trail"])})
    if kind == "Replacer":
        return st.fixed_dictionaries({}, optional={"fanout": st.integers(0, 2), "keep_ids": st.booleans(),
                                                   "drop_odd": st.booleans(), "reverse": st.booleans(),
                                                   "share_matches": st.booleans()})
    if kind == "Matcher":
        return st.fixed_dictionaries({}, optional={"k": st.integers(0, 3),
                                                   "metric": st.sampled_from(["cosine", "euclidean", "dot"]),
                                                   "dtype": st.sampled_from(executors.EMBEDDING_DTYPES)})
    return st.just({})


@st.composite
def flow_cases(draw: st.DrawFn, max_executors: int = 5) -> FlowCase:
    """A Flow: each executor needs the one before it (a chain), or one or more earlier
    stages (a join when two or more), the gateway among them now and then."""
    count = draw(st.integers(1, max_executors))
    cases: list[ExecutorCase] = []
    for position in range(count):
        kind = draw(st.sampled_from(sorted(executors.CLASSES)))
        earlier = ["gateway", *(c.name for c in cases)]
        if position == 0 or draw(st.booleans()):
            needs = (earlier[-1],)
        else:
            needs = tuple(draw(st.lists(st.sampled_from(earlier), min_size=2, max_size=3, unique=True)))
        cases.append(ExecutorCase(
            name=f"e{position}", uses=kind, uses_with=draw(uses_with_for(kind)),
            shards=draw(st.integers(1, 4)), polling=draw(st.sampled_from(POLLINGS)), needs=needs,
        ))
    return FlowCase(tuple(cases))


# --- documents ---

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_IDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=6)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), _FLOATS, _TEXT)


def numpy_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-(2**63), 2**63 - 1).map(np.int64),
        st.floats(width=32, allow_nan=False, allow_infinity=False).map(np.float32),
        st.booleans().map(np.bool_),
    )


@st.composite
def numpy_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(st.sampled_from(["int32", "int64", "float32", "float64", "bool", ">i4", ">f8"]))
    shape = draw(st.sampled_from([(), (0,), (3,), (2, 2)]))
    size = int(np.prod(shape))
    values = draw(st.lists(st.integers(-1000, 1000), min_size=size, max_size=size))
    array = np.array(values, dtype=np.int64).reshape(shape)
    if "f" in dtype:
        array = array / 4
    return array.astype(dtype)


def tag_values() -> st.SearchStrategy[Any]:
    """Tag values every mode carries: JSON, numpy scalars and arrays, bytes, tuples, nested."""
    leaves = st.one_of(_JSON_SCALARS, numpy_scalars(), numpy_arrays(), st.binary(max_size=8))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.lists(inner, max_size=2).map(tuple),
        st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=8)


def tags() -> st.SearchStrategy[dict[str, Any]]:
    """Input tags; their keys never collide with those the executors write."""
    return st.dictionaries(_TEXT.map(lambda key: f"in_{key}"), tag_values(), max_size=3)


def embeddings() -> st.SearchStrategy[np.ndarray]:
    return st.tuples(st.sampled_from(executors.EMBEDDING_DTYPES), st.integers(0, 4)).map(
        lambda spec: (np.arange(spec[1]) - 1).astype(spec[0]))


@st.composite
def documents(draw: st.DrawFn, doc_id: str, nested: bool = True) -> Document:
    doc = Document(id=doc_id, text=draw(st.none() | _TEXT), tags=draw(tags()))
    if draw(st.booleans()):
        doc.embedding = draw(embeddings())
    if draw(st.integers(0, 9)) == 0:
        doc.blob = draw(st.binary(max_size=8))
    if draw(st.integers(0, 19)) == 0:
        doc.text = "x" * 12_000  # over a sharded route's inline limit: it goes by claim check
    if nested:
        matches = draw(st.lists(_IDS, max_size=2, unique=True))
        doc.matches = [draw(documents(f"{doc_id}>m{m}", nested=False)) for m in matches]
        for position, match in enumerate(doc.matches):
            match.scores["cosine"] = draw(st.integers(0, 16)) / 8 + position
        chunks = draw(st.integers(0, 2))
        doc.chunks = [draw(documents(f"{doc_id}#{c}", nested=False)) for c in range(chunks)]
    return doc


@st.composite
def doc_arrays(draw: st.DrawFn) -> DocumentArray:
    """0-5 documents, unicode ids, now and then a duplicate id."""
    ids = draw(st.lists(_IDS, max_size=5, unique=True))
    if ids and draw(st.integers(0, 9)) == 0:
        ids.append(ids[0])
    return DocumentArray([draw(documents(doc_id)) for doc_id in ids])


# --- requests ---


@dataclass
class RequestCase:
    endpoint: str
    docs: DocumentArray
    parameters: dict[str, Any]

    def copy_docs(self) -> DocumentArray:
        return DocumentArray(d.copy() for d in self.docs)


@st.composite
def parameters_for(draw: st.DrawFn, flow: FlowCase, failing: bool = True) -> dict[str, Any]:
    """A request's parameters: a ``limit``, for all or for one executor, and now and then
    one executor (and shard) asked to fail."""
    parameters: dict[str, Any] = {}
    if draw(st.booleans()):
        parameters["limit"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        parameters.setdefault(draw(st.sampled_from(flow.names)), {})["limit"] = draw(st.integers(0, 2))
    if failing and draw(st.integers(0, 3)) == 0:
        case = draw(st.sampled_from(flow.executors))
        own = parameters.setdefault(case.name, {})
        own["fail"] = draw(st.sampled_from(FAILURES))
        own["fail_shard"] = draw(st.integers(0, case.shards - 1))
    return parameters


def requests_for(flow: FlowCase, max_size: int = 3) -> st.SearchStrategy[list[RequestCase]]:
    request = st.builds(RequestCase, st.sampled_from(ENDPOINTS), doc_arrays(), parameters_for(flow))
    return st.lists(request, min_size=1, max_size=max_size)


# --- running and comparing ---


@dataclass
class Outcome:
    """A request's answer in wire form: docs and ``__results__``, or the error (executor,
    shard, endpoint, type, message), or the unknown endpoint."""

    docs: Any = None
    results: Any = None
    error: tuple | None = None

    def __str__(self) -> str:
        return f"error={self.error}" if self.error else f"docs={self.docs} results={self.results}"


def wire(docs: DocumentArray) -> list[dict[str, Any]]:
    """Documents as the wire carries them."""
    return codec.to_plain(codec.docs_to_list(docs))


def error_outcome(error: BaseException) -> Outcome:
    if isinstance(error, UnknownEndpointError):
        return Outcome(error=("unknown endpoint", error.endpoint))
    assert isinstance(error, FlowError), error
    return Outcome(error=(error.executor, error.shard, error.endpoint, error.error_type, str(error.cause)))


def answer_outcome(docs: DocumentArray, results: Any) -> Outcome:
    return Outcome(docs=wire(docs), results=codec.to_plain(results or {}))


def unhandled_outcome(error: BaseException) -> Outcome:
    """A failure that is no executor's error (a gateway's 500, an exception out of a
    handler, an answer that cannot be encoded): it never agrees with a proper answer."""
    return Outcome(error=("unhandled", type(error).__name__, str(error)))


def run_posting(poster: Any, request: RequestCase) -> Outcome:
    """``poster.post`` (a started Flow, or a Client): one batch, its answer as an Outcome."""
    try:
        [response] = poster.post(request.endpoint, request.copy_docs(), parameters=request.parameters,
                                 return_responses=True)
        return answer_outcome(response.docs, response.parameters.get("__results__"))
    except (FlowError, UnknownEndpointError) as error:
        return error_outcome(error)
    except Exception as error:  # noqa: BLE001 - reported as a disagreement, with its text
        return unhandled_outcome(error)


def run_simulated(machine: Any, request: RequestCase) -> Outcome:
    """The simulated state machine's answer as an Outcome."""
    try:
        docs, results = machine.post(request.endpoint, request.copy_docs(), dict(request.parameters))
        return answer_outcome(docs, results)
    except (FlowError, UnknownEndpointError) as error:
        return error_outcome(error)
    except Exception as error:  # noqa: BLE001 - reported as a disagreement, with its text
        return unhandled_outcome(error)


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def three_modes(case: FlowCase, storage: Path) -> Iterator[Modes]:
    """The Flow started embedded and served over HTTP on a free port of 127.0.0.1 (with a
    Client of it), and as a simulated state machine keeping its executors' storage in
    ``storage``."""
    from faasflow import Client
    from tests.support.simulate import SimulatedStateMachine

    port = free_port()
    flow = case.flow()
    flow.protocol, flow.host, flow.port = "http", "127.0.0.1", port
    with flow, Client(f"http://127.0.0.1:{port}", timeout=30) as client:
        yield Modes(flow, client, SimulatedStateMachine(flow.plan, str(storage)))


@dataclass
class Modes:
    embedded: Flow
    client: Any
    machine: Any

    def outcomes(self, request: RequestCase) -> dict[str, Outcome]:
        """The request's answer in each mode."""
        return {"embedded": run_posting(self.embedded, request), "served": run_posting(self.client, request),
                "simulated": run_simulated(self.machine, request)}
