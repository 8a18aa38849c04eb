"""``faasflow cost --sample``: durations and bytes measured by running the Flow on a
sample, hop by hop as its state machine runs it, instead of assumed.

Each path read from the state machine (``faasflow.cost.paths``) is run in this process
through the Lambda runtime's own hop (``faasflow.runtime.hops.run_shard``): every shard
gets the event its Task would pass, through JSON, and answers an envelope whose docs are
encoded by the wire codec, inline or as a claim check past the hop's inline limit, as
deployed. So the bytes per hop are the deployed ones; the time of each shard is its
``run_shard`` call, decoding and encoding included.

Shard state goes to a throwaway folder through the local storage, which stands in for S3
request for request (a conditional write is one PUT, a listing one LIST per 1,000 keys);
those requests are counted per shard. The sample is sent in requests of
``--docs-per-request`` docs, at most ``MAX_REQUESTS`` per endpoint, ``/index`` first so
that reads have something to read. A duration is the median over the requests (a warm
function's), bytes and requests the mean.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any, cast

from faasflow import codec
from faasflow.array import DocumentArray
from faasflow.cost.model import GATEWAY, RunProfile, ShardRun
from faasflow.cost.paths import OTHER, RunPath
from faasflow.document import Document
from faasflow.errors import FaasflowError
from faasflow.executor import DEFAULT_ENDPOINT, Executor
from faasflow.plan import ExecutorSpec, Plan
from faasflow.storage.local import FSYNC_ENV

MAX_REQUESTS = 50  # per endpoint: enough for a median, few enough to stay quick on a large sample
LIST_PAGE = 1_000  # S3 lists up to 1,000 keys a request
GET_METHODS = ("get", "get_versioned", "get_range")  # GET-priced (a zero-length range is a HEAD)
PUT_METHODS = ("put", "put_if_absent", "put_if_version", "list")  # PUT-priced (LIST too)
PAYLOAD_URL_ENV = "FAASFLOW_PAYLOAD_URL"


@dataclass(frozen=True)
class Sample:
    """The sample's documents, and the mean bytes of one of its JSON lines."""

    path: str
    docs: tuple[Document, ...]
    line_bytes: float


def read_sample(path: str) -> Sample:
    """The documents of a JSON-lines file; a malformed line is refused, naming it."""
    from faasflow.jsonl import BadLine, read_documents

    bad: list[BadLine] = []
    try:
        with open(path, "rb") as source:
            lines = source.readlines()
    except OSError as exc:
        raise FaasflowError(f"--sample {path}: cannot read it: {exc.strerror or exc}") from None
    docs = tuple(read_documents(lines, bad))  # numbered as an editor counts, blank lines included
    if bad:
        raise FaasflowError(f"--sample {path}:{bad[0].number}: {bad[0].message}")
    if not docs:
        raise FaasflowError(f"--sample {path}: no documents in it (one JSON document a line)")
    sizes = [len(line) for line in lines if line.strip()]
    return Sample(path, docs, sum(sizes) / len(sizes))


def requests_of(docs: Sequence[Document], size: int, limit: int = MAX_REQUESTS) -> list[DocumentArray]:
    """``docs`` cut into requests of ``size``; a sample smaller than one request is repeated,
    each copy with new ids (a batch split holds distinct docs)."""
    pool = list(docs)
    copy = 1
    while len(pool) < size:
        pool += [_renamed(doc, f"{doc.id}-{copy}") for doc in docs]
        copy += 1
    cut = [pool[start:start + size] for start in range(0, len(pool), size)]
    return [DocumentArray(part) for part in cut[:limit] if len(part) == size or len(cut) == 1]


def _renamed(doc: Document, new_id: str) -> Document:
    return codec.document_from_dict({**codec.document_to_dict(doc), "id": new_id})


@dataclass
class StateCounts:
    """S3-priced requests of shard state, since last taken."""

    gets: float = 0.0
    puts: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, amount: int) -> None:
        with self.lock:
            if method in GET_METHODS:
                self.gets += amount
            else:
                self.puts += amount

    def take(self) -> tuple[float, float]:
        with self.lock:
            taken = (self.gets, self.puts)
            self.gets = self.puts = 0.0
        return taken


@contextmanager
def counting_storage(counts: StateCounts, ignored: Path) -> Iterator[None]:
    """Count the S3-priced requests made through the local storage (not under ``ignored``,
    the claim checks' folder: the model counts those from the envelopes). Only the
    outermost call counts: a conditional write that reads first is one request on S3."""
    from faasflow.storage.local import LocalStorage

    local = threading.local()
    originals = {name: getattr(LocalStorage, name) for name in (*GET_METHODS, *PUT_METHODS)}

    def counted(name: str, original: Any) -> Any:
        def call(self: LocalStorage, *args: Any, **kwargs: Any) -> Any:
            depth = getattr(local, "depth", 0)
            local.depth = depth + 1
            result: Any = None
            try:
                result = original(self, *args, **kwargs)
                return result
            finally:
                local.depth = depth
                if depth == 0 and not self.root.is_relative_to(ignored):
                    pages = max(1, math.ceil(len(result) / LIST_PAGE)) if name == "list" and result else 1
                    counts.add(name, pages)

        return call

    for name, original in originals.items():
        setattr(LocalStorage, name, counted(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(LocalStorage, name, original)


class Measurer:
    """Runs paths of a Flow hop by hop, each shard's instance made once (a warm function)."""

    def __init__(self, plan: Plan, folder: Path):
        self.specs: dict[str, ExecutorSpec] = {
            one.name: one for spec in plan.executors for one in (spec, *spec.helpers)}
        self.folder = folder
        self.payloads = folder / "payloads"
        self.instances: dict[tuple[str, int], Executor] = {}
        self.counts = StateCounts()
        self._requests = 0

    def instance(self, spec: ExecutorSpec, shard: int) -> Executor:
        from faasflow.stage import construct_executor

        key = (spec.name, shard)
        if key not in self.instances:
            self.instances[key] = construct_executor(
                spec, shard, workspace=str(self.folder / "workspace"),
                storage_url=(self.folder / "state").as_uri() + "/")
        return self.instances[key]

    def close(self) -> None:
        for instance in self.instances.values():
            try:
                instance.close()
            except Exception:  # noqa: BLE001, S110 - a throwaway workspace: closing is best effort
                pass
        self.instances.clear()

    def profile(self, path: RunPath, requests: Sequence[DocumentArray], entry_limit: int,
                line_bytes: float) -> RunProfile | str:
        """The measured profile of ``requests`` along ``path``, or why it could not be measured."""
        runs: list[tuple[float, float, dict[str, list[ShardRun]]]] = []
        for docs in requests:
            outcome = self._run(path, docs, entry_limit)
            if isinstance(outcome, str):
                return outcome
            runs.append(outcome)
        stages = {stage.name: tuple(_combine([run[2][stage.name][shard] for run in runs])
                                    for shard in range(stage.shards)) for stage in path.stages}
        return RunProfile(
            docs=len(requests[0]), request_bytes=statistics.fmean(run[0] for run in runs),
            request_stored=statistics.fmean(run[1] for run in runs), stages=stages, measured=True,
            requests=len(runs), line_bytes=line_bytes)

    def _run(self, path: RunPath, docs: DocumentArray,
             entry_limit: int) -> tuple[float, float, dict[str, list[ShardRun]]] | str:
        from faasflow.runtime.hops import run_shard
        from faasflow.runtime.payload import encode_docs
        from faasflow.wire import StageEvent

        self._requests += 1
        request = {"endpoint": DEFAULT_ENDPOINT if path.endpoint == OTHER else path.endpoint, "parameters": {},
                   "request_id": f"cost-{self._requests}"}
        entry = encode_docs(docs, f"{request['request_id']}/{GATEWAY}", entry_limit)
        values: dict[str, Any] = {GATEWAY: {"value": {"docs": _plain(entry)}}}
        measured: dict[str, list[ShardRun]] = {}
        for stage in path.stages:
            spec = self.specs[stage.name]
            event = {"request": request, "stage": stage.name, "mode": stage.mode, "input": stage.input,
                     "inline_limit": stage.inline_limit, "values": {name: values[name] for name in stage.reads}}
            envelopes = []
            for shard in range(stage.shards):
                instance = self.instance(spec, shard)
                hop = cast(StageEvent, _plain({**event, "shard": shard}))
                self.counts.take()
                started = perf_counter()
                envelope = _plain(run_shard(instance, spec, shard, stage.mode, hop, stage.inline_limit))
                ms = (perf_counter() - started) * 1000
                gets, puts = self.counts.take()
                if "error" in envelope:
                    return _failure(path.endpoint, envelope["error"])
                out_bytes, stored = _docs_bytes(envelope.get("docs"))
                measured.setdefault(stage.name, []).append(ShardRun(ms, out_bytes, stored, gets, puts))
                envelopes.append(envelope)
            values[stage.name] = envelopes if stage.shards > 1 else {"value": envelopes[0]}
        return _docs_bytes(entry) + (measured,)


def measure(plan: Plan, runs: Sequence[tuple[RunPath, Sequence[DocumentArray], int]],
            line_bytes: float) -> list[RunProfile | str]:
    """Each ``(path, requests, entry limit)`` measured in one throwaway workspace, in order;
    a path that failed gives why, as text."""
    with tempfile.TemporaryDirectory(prefix="faasflow-cost-") as folder, _environment(Path(folder)):
        measurer = Measurer(plan, Path(folder))
        try:
            with counting_storage(measurer.counts, measurer.payloads):
                return [measurer.profile(path, requests, limit, line_bytes) for path, requests, limit in runs]
        finally:
            measurer.close()


@contextmanager
def _environment(folder: Path) -> Iterator[None]:
    """Claim checks go to the throwaway folder; no fsync (S3 makes a write durable, not the function)."""
    saved = {name: os.environ.get(name) for name in (PAYLOAD_URL_ENV, FSYNC_ENV)}
    os.environ[PAYLOAD_URL_ENV] = (folder / "payloads").as_uri() + "/"
    os.environ[FSYNC_ENV] = "0"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _plain(value: Any) -> Any:
    """Through JSON, as Step Functions passes every state."""
    return codec.loads(codec.dumps(value))


def _docs_bytes(ref: Any) -> tuple[float, float]:
    """(encoded bytes, 1.0 if stored as a claim check) of a docs reference; a skipped shard has none."""
    if not isinstance(ref, Mapping):
        return 0.0, 0.0
    if "inline" in ref:
        return float(len(codec.dumps(ref["inline"]))), 0.0
    return float(ref["bytes"]), 1.0


def _combine(runs: Sequence[ShardRun]) -> ShardRun:
    return ShardRun(
        ms=statistics.median(run.ms for run in runs),
        out_bytes=statistics.fmean(run.out_bytes for run in runs),
        stored=statistics.fmean(run.stored for run in runs),
        state_gets=statistics.fmean(run.state_gets for run in runs),
        state_puts=statistics.fmean(run.state_puts for run in runs))


def _failure(endpoint: str, error: Mapping[str, Any]) -> str:
    message = str(error.get("message", "")).strip().splitlines()
    text = f"{error.get('type', 'Error')}: {message[0] if message else ''}"
    return f"{endpoint}: executor {error.get('executor')!r} shard {error.get('shard')} failed: {text[:200]}"
