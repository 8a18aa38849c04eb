"""What one request of a Flow costs on AWS: pure arithmetic over the compiled deployment
(each function's memory), the paths read from its state machines (``faasflow.cost.paths``)
and a profile of durations and bytes per stage shard, measured (``--sample``) or assumed.

What is billed, per request of an endpoint:

* API Gateway: one REST request;
* the gateway function: one invocation, for its own work *and* the wait for the Express run
  it starts synchronously (``StartSyncExecution``); GB-s at its memory, billed per 1 ms;
* the Express run: one request, and its duration in 100 ms steps at 64 MB (a run's state
  stays under 256 KB, so it never needs a second 64 MB step); its state transitions are
  reported, not billed (Standard bills transitions, Express does not);
* every stage shard's Lambda invocation (an ``ANY`` shard owning none of the docs is still
  invoked), GB-s at its memory; a measured time is stretched by 1,769 MB / memory below
  1,769 MB, where Lambda gives a function that share of one vCPU;
* S3, for claim checks: a hop's docs over its inline limit are PUT once and read with one
  GET by every shard that reads them (and by the gateway, for the answer); and the shard
  state requests executors make (measured with ``--sample``; none assumed without).

Latency is an estimate: the critical path (stages in sequence, a sharded stage as long as
its slowest shard) plus documented overheads: ``API_EDGE_MS`` (API Gateway and a warm
invoke of the function behind it), ``START_RUN_MS`` (StartSyncExecution starting and
answering a run), ``HOP_MS`` per stage (an Express Task transition and a warm Lambda
invoke) and ``S3_MS`` per S3 request a function makes (billed time, too). They are round
figures, to be checked against a deployed Flow's traces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from faasflow.batch import READ_AHEAD
from faasflow.cost.paths import BatchPath, RunPath, StagePath
from faasflow.cost.prices import PriceTable

if TYPE_CHECKING:
    from faasflow.compiler.model import Deployment

API_EDGE_MS = 25.0  # API Gateway REST + a warm invoke of the function behind it (estimate)
START_RUN_MS = 15.0  # StartSyncExecution: starting an Express run and getting its answer (estimate)
HOP_MS = 30.0  # per stage: an Express Task transition + a warm Lambda invoke (estimate)
S3_MS = 20.0  # one S3 request from a function in the same region, small object (estimate)
LAMBDA_CPU_MB = 1769  # a function has one vCPU at 1,769 MB, that share of one below
EXPRESS_MEMORY_MB = 64  # Express bills memory in 64 MB steps
EXPRESS_STEP_MS = 100  # ... and duration in 100 ms steps
SKIPPED_MS = 1.0  # an ANY shard owning none of the docs: invoked, answers at once (Lambda's minimum)
RUN_DOCS = 10_000  # the batch alternative: one JSON-lines file of this many docs
GATEWAY = "gateway"  # the stage name of a run's input (``faasflow.plan.GATEWAY``)


@dataclass(frozen=True)
class Assumptions:
    """What the model takes where nothing was measured; every report names them."""

    stage_ms: float = 10.0  # a stage shard's invocation, on the function...
    per_doc_ms: float = 1.0  # ... plus this for every doc it gets
    doc_bytes: int = 2_000  # one doc, encoded, on every hop (every stage answers with the docs it got)
    gateway_ms: float = 15.0  # the gateway function's own work per request, besides the wait
    read_ms: float = 50.0  # the batch worker reading and parsing one split
    summary_ms: float = 100.0  # the batch worker writing a run's summary
    ingest_ms: float = 200.0  # the ingest function planning a run's splits


@dataclass(frozen=True)
class ShardRun:
    """One stage shard's part of one request (means over the measured requests)."""

    ms: float
    out_bytes: float  # its answer's docs, encoded as the hop carries them
    stored: float  # the share of requests whose answer went as a claim check (0 or 1 when assumed)
    state_gets: float = 0.0  # shard state: S3 GET-priced requests (GET, HEAD)
    state_puts: float = 0.0  # shard state: S3 PUT-priced requests (PUT, LIST)


@dataclass(frozen=True)
class RunProfile:
    """Durations and bytes along one path, for requests of ``docs`` docs."""

    docs: int
    request_bytes: float  # the request's docs, encoded: the run's first envelope
    request_stored: float
    stages: Mapping[str, tuple[ShardRun, ...]]
    measured: bool
    requests: int = 0  # how many requests were measured
    line_bytes: float = 0.0  # a JSON line of the sample (the batch split's size); 0: ``doc_bytes``
    note: str | None = None  # why it is assumed where measuring was asked for


@dataclass(frozen=True)
class Item:
    """One billed quantity of one request (or run) and what it costs."""

    service: str
    what: str
    quantity: float
    price: str  # the price's name in the table
    dollars: float


@dataclass(frozen=True)
class Hop:
    """A row of the report: the gateway function, or one stage."""

    name: str
    shards: int
    memory_mb: int | None  # None: a GPU endpoint (SageMaker), not billed per request
    ms: tuple[float, ...]  # billed ms per shard (Lambda rounds up to 1 ms)
    gb_seconds: float
    docs_bytes: float  # the docs it passes on, encoded (all shards)
    stored: float  # claim checks it writes (a share of requests)
    state_gets: float
    state_puts: float


@dataclass(frozen=True)
class Cost:
    items: tuple[Item, ...]
    per_request: float
    per_million: float
    per_month: float


@dataclass(frozen=True)
class EndpointCost:
    endpoint: str
    stages: tuple[str, ...]  # "db x3 (ALL)"
    measured: bool
    requests_measured: int
    note: str | None
    docs: int
    hops: tuple[Hop, ...]
    transitions: int
    run_ms: float  # the Express run, before rounding
    express_billed_ms: int
    claim_gets: float
    claim_puts: float
    latency_ms: float
    latency_terms: tuple[tuple[str, float], ...]
    cost: Cost
    gpu_stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class OneFunction:
    """The same endpoint as one Lambda function running every stage in sequence."""

    endpoint: str
    memory_mb: int
    billed_ms: int
    latency_ms: float
    cost: Cost


@dataclass(frozen=True)
class BatchCost:
    """Batch indexing: a Standard machine whose Distributed Map runs one Express child a split."""

    endpoint: str  # the route its children run
    run_docs: int
    split_docs: int
    splits: int
    standard_transitions: int
    child_transitions: int
    child_billed_ms: int
    measured: bool
    note: str | None
    items: tuple[Item, ...]  # per run
    per_run: float
    per_million_docs: float
    sync_per_million_docs: float | None  # the same docs through the synchronous endpoint
    per_month: float  # the month's docs of that endpoint, indexed this way


@dataclass(frozen=True)
class Estimate:
    flow: str
    prices: PriceTable
    requests_per_month: int
    docs_per_request: int
    assumptions: Assumptions
    endpoints: tuple[EndpointCost, ...]
    one_function: tuple[OneFunction, ...]
    batch: BatchCost | None
    sample: str | None = None  # the file durations and bytes were measured on
    overheads: Mapping[str, float] = field(default_factory=lambda: {
        "api_edge_ms": API_EDGE_MS, "start_run_ms": START_RUN_MS, "hop_ms": HOP_MS, "s3_ms": S3_MS})


@dataclass(frozen=True)
class Memories:
    """What the model reads of the deployment: each function's memory, the gateway's limit."""

    functions: Mapping[str, int]  # logical id -> MB
    gateway_mb: int
    gateway_inline_limit: int
    worker_mb: int
    ingest_mb: int
    flow: str

    @classmethod
    def of(cls, deployment: Deployment) -> Memories:
        functions = {f.logical_id: f.memory for f in deployment.functions}
        functions[deployment.batch.worker_id] = deployment.batch.worker_memory
        return cls(functions, deployment.gateway.memory, int(deployment.gateway.config["inline_limit"]),
                   deployment.batch.worker_memory, deployment.batch.ingest_memory, deployment.name)


# --- profiles ---


def shard_docs(mode: str, shards: int, docs: int) -> list[int]:
    """Docs per shard: all of them for ``single`` and ``ALL``; for ``ANY`` spread evenly
    (the hash spreads them about so), an empty request reaching shard 0 only."""
    if mode != "ANY":
        return [docs] * shards
    return [docs // shards + (1 if shard < docs % shards else 0) for shard in range(shards)]


def assumed_profile(path: RunPath, docs: int, assumed: Assumptions, entry_limit: int,
                    note: str | None = None) -> RunProfile:
    """The profile ``assumed`` gives requests of ``docs`` docs along ``path``."""
    stages: dict[str, tuple[ShardRun, ...]] = {}
    for stage in path.stages:
        runs = []
        for shard, got in enumerate(shard_docs(stage.mode, stage.shards, docs)):
            skipped = stage.mode == "ANY" and got == 0 and not (shard == 0 and docs == 0)
            out = got * assumed.doc_bytes
            runs.append(ShardRun(SKIPPED_MS if skipped else assumed.stage_ms + assumed.per_doc_ms * got, out,
                                 0.0 if skipped or out <= stage.inline_limit else 1.0))
        stages[stage.name] = tuple(runs)
    request = docs * assumed.doc_bytes
    return RunProfile(docs, request, 1.0 if request > entry_limit else 0.0, stages, measured=False, note=note)


# --- arithmetic ---


def cpu_ms(ms: float, memory: int | None, measured: bool) -> float:
    """A time measured here, as a function of ``memory`` MB runs it (its share of a vCPU)."""
    return ms * max(1.0, LAMBDA_CPU_MB / memory) if measured and memory else ms


def lambda_billed_ms(ms: float) -> int:
    """Lambda bills in 1 ms steps, at least 1."""
    return max(1, math.ceil(ms - 1e-9))


def express_billed_ms(run_ms: float) -> int:
    return EXPRESS_STEP_MS * max(1, math.ceil(run_ms / EXPRESS_STEP_MS - 1e-9))


def gb_seconds(memory: int, ms: float) -> float:
    return memory / 1024 * ms / 1000


def priced(prices: PriceTable, rows: Sequence[tuple[str, str, float, str]], requests: int) -> Cost:
    items = tuple(Item(service, what, quantity, name, quantity * prices[name].each)
                  for service, what, quantity, name in rows)
    per_request = sum(item.dollars for item in items)
    return Cost(items, per_request, per_request * 1e6, per_request * requests)


def stored_answers(profile: RunProfile) -> dict[str, float]:
    """Per stage (and the run's input), how many of its envelopes are claim checks."""
    stored = {GATEWAY: profile.request_stored}
    stored.update({name: sum(run.stored for run in runs) for name, runs in profile.stages.items()})
    return stored


def claim_checks(path: RunPath, profile: RunProfile) -> tuple[float, float]:
    """(GETs, PUTs) of claim checks along a run: each stored answer PUT once, read by
    every shard of every stage that reads it, and by the gateway for the answer."""
    stored = stored_answers(profile)
    gets = sum(stage.shards * sum(stored.get(name, 0.0) for name in stage.reads) for stage in path.stages)
    gets += sum(stored.get(name, 0.0) for name in path.answer_reads)
    return gets, sum(stored.values())


def _memory(memories: Memories, stage: StagePath) -> int | None:
    if stage.gpu:
        return None
    resource = stage.invocations[0].resource
    if resource not in memories.functions:
        raise ValueError(f"the state machine invokes {resource}, which the deployment does not define")
    return memories.functions[resource]


def stage_hops(path: RunPath, profile: RunProfile, memories: Memories) -> list[tuple[Hop, float]]:
    """Each stage as its functions run it, and its time on the critical path (its slowest
    shard): the shard's work, plus ``S3_MS`` per S3 request it makes."""
    stored = stored_answers(profile)
    made = []
    for stage in path.stages:
        runs = profile.stages[stage.name]
        memory = _memory(memories, stage)
        reads = sum(stored.get(name, 0.0) for name in stage.reads)  # claim checks each shard GETs
        times = [cpu_ms(run.ms, memory, profile.measured)
                 + S3_MS * (reads + run.stored + run.state_gets + run.state_puts) for run in runs]
        billed = tuple(float(lambda_billed_ms(time)) if memory else time for time in times)
        made.append((Hop(
            stage.name, stage.shards, memory, billed, sum(gb_seconds(memory, ms) for ms in billed) if memory else 0.0,
            sum(run.out_bytes for run in runs), sum(run.stored for run in runs),
            sum(run.state_gets for run in runs), sum(run.state_puts for run in runs)), max(times)))
    return made


def endpoint_cost(path: RunPath, profile: RunProfile, memories: Memories, prices: PriceTable,
                  assumed: Assumptions, requests: int) -> EndpointCost:
    """One request of ``path``'s endpoint, priced."""
    made = stage_hops(path, profile, memories)
    stages = [hop for hop, _ in made]
    run_ms = sum(time + HOP_MS for _, time in made)
    express_ms = express_billed_ms(run_ms)
    claim_gets, claim_puts = claim_checks(path, profile)
    stored = stored_answers(profile)
    gateway_s3 = profile.request_stored + sum(stored.get(name, 0.0) for name in path.answer_reads)
    gateway_ms = lambda_billed_ms(assumed.gateway_ms + S3_MS * gateway_s3 + START_RUN_MS + run_ms)
    gateway = Hop(GATEWAY, 1, memories.gateway_mb, (float(gateway_ms),), gb_seconds(memories.gateway_mb, gateway_ms),
                  profile.request_bytes, profile.request_stored, 0.0, 0.0)
    lambda_hops = [hop for hop in (gateway, *stages) if hop.memory_mb is not None]
    rows = [
        ("API Gateway", "REST requests", 1.0, "api_gateway_requests"),
        ("Lambda", "invocations", float(sum(hop.shards for hop in lambda_hops)), "lambda_requests"),
        ("Lambda", "GB-seconds", sum(hop.gb_seconds for hop in lambda_hops), "lambda_gb_seconds"),
        ("Step Functions Express", "requests", 1.0, "express_requests"),
        ("Step Functions Express", f"GB-seconds ({express_ms} ms at {EXPRESS_MEMORY_MB} MB)",
         gb_seconds(EXPRESS_MEMORY_MB, express_ms), "express_gb_seconds"),
        ("S3", "GET: claim checks", claim_gets, "s3_get_requests"),
        ("S3", "PUT: claim checks", claim_puts, "s3_put_requests"),
        ("S3", "GET: shard state", sum(hop.state_gets for hop in stages), "s3_get_requests"),
        ("S3", "PUT/LIST: shard state", sum(hop.state_puts for hop in stages), "s3_put_requests"),
    ]
    terms = [("API Gateway", API_EDGE_MS), ("gateway", assumed.gateway_ms + S3_MS * gateway_s3),
             ("start", START_RUN_MS)]
    terms += [(hop.name, time + HOP_MS) for hop, time in made]  # each stage with its hop
    return EndpointCost(
        endpoint=path.endpoint, stages=tuple(_describe(stage) for stage in path.stages),
        measured=profile.measured, requests_measured=profile.requests, note=profile.note, docs=profile.docs,
        hops=(gateway, *stages), transitions=path.transitions, run_ms=run_ms, express_billed_ms=express_ms,
        claim_gets=claim_gets, claim_puts=claim_puts, latency_ms=sum(value for _, value in terms),
        latency_terms=tuple(terms), cost=priced(prices, rows, requests),
        gpu_stages=tuple(stage.name for stage in path.stages if stage.gpu))


def _describe(stage: StagePath) -> str:
    return stage.name if stage.shards == 1 else f"{stage.name} x{stage.shards} ({stage.mode})"


def one_function(path: RunPath, profile: RunProfile, memories: Memories, prices: PriceTable,
                 assumed: Assumptions, requests: int) -> OneFunction:
    """``path``'s endpoint as one function: the largest stage's memory, every shard's time in
    sequence plus the gateway's own work, one invocation behind API Gateway; no state
    machine, no claim checks (the docs stay in memory); the same shard state requests."""
    memory = max((m for stage in path.stages if (m := _memory(memories, stage)) is not None),
                 default=memories.gateway_mb)
    runs = [run for stage in path.stages for run in profile.stages[stage.name]]
    work = sum(cpu_ms(run.ms, memory, profile.measured) + S3_MS * (run.state_gets + run.state_puts) for run in runs)
    ms = lambda_billed_ms(assumed.gateway_ms + work)
    rows = [
        ("API Gateway", "REST requests", 1.0, "api_gateway_requests"),
        ("Lambda", "invocations", 1.0, "lambda_requests"),
        ("Lambda", "GB-seconds", gb_seconds(memory, ms), "lambda_gb_seconds"),
        ("S3", "GET: shard state", sum(run.state_gets for run in runs), "s3_get_requests"),
        ("S3", "PUT/LIST: shard state", sum(run.state_puts for run in runs), "s3_put_requests"),
    ]
    return OneFunction(path.endpoint, memory, ms, API_EDGE_MS + ms, priced(prices, rows, requests))


def batch_cost(batch: BatchPath, profile: RunProfile, memories: Memories, prices: PriceTable,
               assumed: Assumptions, sync: EndpointCost | None, requests: int,
               run_docs: int = RUN_DOCS) -> BatchCost:
    """One batch run of ``run_docs`` docs in splits of ``profile.docs``, priced; and per
    million docs beside the synchronous endpoint ``sync`` at its docs per request."""
    child = batch.child
    split_docs = max(1, profile.docs)
    splits = math.ceil(run_docs / split_docs)
    made = stage_hops(child, profile, memories)
    stages = [hop for hop, _ in made]
    read_ms = lambda_billed_ms(assumed.read_ms + S3_MS * profile.request_stored)
    run_ms = read_ms + HOP_MS + sum(time + HOP_MS for _, time in made)
    express_ms = express_billed_ms(run_ms)
    split_bytes = split_docs * (profile.line_bytes or assumed.doc_bytes)
    reads = 1 + math.ceil(split_bytes / READ_AHEAD)  # the line across its start, then 64 KB at a time
    gets, puts = claim_checks(child, profile)
    invocations = 1 + sum(hop.shards for hop in stages if hop.memory_mb is not None)
    gb_s = gb_seconds(memories.worker_mb, read_ms) + sum(hop.gb_seconds for hop in stages)
    fixed_gb_s = (gb_seconds(memories.ingest_mb, lambda_billed_ms(assumed.ingest_ms))
                  + gb_seconds(memories.worker_mb, lambda_billed_ms(assumed.summary_ms)))
    transitions = batch.transitions + splits  # each child started is a transition of the parent
    rows = [
        ("Step Functions Standard", "state transitions", float(transitions), "standard_transitions"),
        ("Step Functions Express", "child requests", float(splits), "express_requests"),
        ("Step Functions Express", f"child GB-seconds ({express_ms} ms at {EXPRESS_MEMORY_MB} MB each)",
         splits * gb_seconds(EXPRESS_MEMORY_MB, express_ms), "express_gb_seconds"),
        ("Lambda", "invocations (ingest, summary, per split: read + stages)", 2.0 + splits * invocations,
         "lambda_requests"),
        ("Lambda", "GB-seconds", fixed_gb_s + splits * gb_s, "lambda_gb_seconds"),
        ("S3", "PUT: the file, its split list, the summary (2)", 4.0, "s3_put_requests"),
        ("S3", "GET: ingest sample, split list, split reads", 2.0 + splits * reads, "s3_get_requests"),
        ("S3", "GET: claim checks", splits * gets, "s3_get_requests"),
        ("S3", "PUT: claim checks", splits * puts, "s3_put_requests"),
        ("S3", "GET: shard state", splits * sum(hop.state_gets for hop in stages), "s3_get_requests"),
        ("S3", "PUT/LIST: shard state", splits * sum(hop.state_puts for hop in stages), "s3_put_requests"),
    ]
    cost = priced(prices, rows, 1)
    per_million_docs = cost.per_request / run_docs * 1e6
    sync_per_million = sync.cost.per_request / sync.docs * 1e6 if sync is not None and sync.docs else None
    month_docs = requests * (sync.docs if sync is not None else split_docs)
    return BatchCost(
        endpoint=child.endpoint, run_docs=run_docs, split_docs=split_docs, splits=splits,
        standard_transitions=transitions, child_transitions=child.transitions, child_billed_ms=express_ms,
        measured=profile.measured, note=profile.note, items=cost.items, per_run=cost.per_request,
        per_million_docs=per_million_docs, sync_per_million_docs=sync_per_million,
        per_month=per_million_docs * month_docs / 1e6)


def estimate(flow: str, paths: Sequence[RunPath], profiles: Mapping[str, RunProfile], memories: Memories,
             prices: PriceTable, assumed: Assumptions, requests: int, docs: int,
             batch: BatchPath | None = None, batch_profile: RunProfile | None = None) -> Estimate:
    """Every endpoint priced, with the alternatives a user weighs."""
    costs = tuple(endpoint_cost(path, profiles[path.endpoint], memories, prices, assumed, requests)
                  for path in paths)
    singles = tuple(one_function(path, profiles[path.endpoint], memories, prices, assumed, requests)
                    for path in paths)
    batch_estimate = None
    if batch is not None and batch_profile is not None:
        sync = next((cost for cost in costs if cost.endpoint == batch.child.endpoint), None)
        batch_estimate = batch_cost(batch, batch_profile, memories, prices, assumed, sync, requests)
    return Estimate(flow, prices, requests, docs, assumed, costs, singles, batch_estimate)
