"""An estimate as text for a person, or as JSON for a script (every figure, every price
with its source)."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from faasflow.cost.model import EndpointCost, Estimate, Hop, Item

SERVICES = ("API Gateway", "Lambda", "Step Functions Express", "Step Functions Standard", "S3")


def to_json(estimate: Estimate) -> str:
    data: dict[str, Any] = dataclasses.asdict(estimate)
    data["prices"] = estimate.prices.to_dict()
    return json.dumps(data, indent=2, allow_nan=False)  # standard JSON: a non-finite figure is a bug


def money(dollars: float) -> str:
    """Dollars to three significant figures (cents at least), never in exponent form."""
    if dollars == 0:
        return "$0"
    if dollars >= 100:
        return f"${dollars:,.0f}"
    places = max(2, 2 - math.floor(math.log10(abs(dollars))))
    return f"${dollars:,.{places}f}"


def number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def render(estimate: Estimate) -> str:
    lines = [*_heading(estimate), "", *_summary(estimate)]
    for cost in estimate.endpoints:
        lines += ["", *_endpoint(cost)]
    lines += ["", *_batch(estimate), "", NOT_PRICED]
    return "\n".join(lines)


# What the figures leave out, said where they are read rather than only in the docs.
NOT_PRICED = ("not priced: CloudWatch Logs and metrics (each hop writes a log line and an EMF record, "
              "about 0.7 KB), free tiers, data transfer, and API Gateway's lower rates past 333M requests")


def _heading(estimate: Estimate) -> list[str]:
    prices, assumed, overheads = estimate.prices, estimate.assumptions, estimate.overheads
    docs = estimate.docs_per_request
    lines = [f"Flow {estimate.flow!r} on AWS, one request per endpoint; prices: {prices.region}, {prices.currency}, "
             f"of {prices.date} (sources: --json)"]
    if prices.override:
        changed = [name for name, price in prices.prices.items() if price.overridden]
        lines.append(f"  from {prices.override} (of {prices.override_date}): {', '.join(changed)}")
    lines.append(f"rate: {estimate.requests_per_month:,} requests a month to each endpoint, "
                 f"{docs:,} doc{'s' if docs != 1 else ''} a request")
    measured = [cost for cost in estimate.endpoints if cost.measured]
    if measured:
        counts = {cost.requests_measured for cost in measured}
        lines += [f"measured on {estimate.sample}: {_range(counts)} requests an endpoint; a shard's median time,",
                  "  at its function's CPU share (1,769 MB = 1 vCPU); bytes and S3 requests: means"]
    if len(measured) < len(estimate.endpoints):
        lines += [f"assumed{' elsewhere' if measured else ''} (--sample FILE measures them): a stage shard "
                  f"{number(assumed.stage_ms)} ms + {number(assumed.per_doc_ms)} ms a doc, "
                  f"{assumed.doc_bytes:,} bytes a doc on every hop,", "  no S3 requests for shard state"]
    lines += [f"estimates: the gateway's own work {number(assumed.gateway_ms)} ms, API Gateway + invoke "
              f"{number(overheads['api_edge_ms'])} ms, starting the run {number(overheads['start_run_ms'])} ms,",
              f"  a hop {number(overheads['hop_ms'])} ms a stage, an S3 request {number(overheads['s3_ms'])} ms"]
    return lines


def _summary(estimate: Estimate) -> list[str]:
    """Each endpoint deployed, beside the same stages as one Lambda function (every stage in
    sequence at the largest stage's memory; no state machine, no claim checks)."""
    memories = sorted({single.memory_mb for single in estimate.one_function})
    memory = f"{memories[0]:,} MB" if len(memories) == 1 else "the largest stage's memory"
    lines = [f"{'':<10} {'deployed (Express)':^32}   {'as one Lambda function':^22}",
             f"{'endpoint':<10} {'$ per 1M':>10} {'$ a month':>11} {'latency':>9}   {'$ per 1M':>10} "
             f"{'latency':>9}   stages"]
    singles = {single.endpoint: single for single in estimate.one_function}
    for cost in estimate.endpoints:
        single = singles[cost.endpoint]
        lines.append(f"{cost.endpoint:<10} {money(cost.cost.per_million):>10} {money(cost.cost.per_month):>11} "
                     f"{cost.latency_ms:>6,.0f} ms   {money(single.cost.per_million):>10} "
                     f"{single.latency_ms:>6,.0f} ms   {' -> '.join(cost.stages) or '(none)'}")
    lines.append(f"one Lambda function: every stage in sequence at {memory}, no state machine, no claim checks")
    return lines


def _range(values: set[int]) -> str:
    return str(min(values)) if len(values) == 1 else f"{min(values)}-{max(values)}"


def _endpoint(cost: EndpointCost) -> list[str]:
    source = "measured" if cost.measured else "assumed"
    label = "* (endpoints only default methods serve)" if cost.endpoint == "*" else cost.endpoint
    lines = [f"{label}: {source}, {cost.docs:,} doc{'s' if cost.docs != 1 else ''} a request"]
    if cost.note:
        lines.append(f"  {cost.note}")
    lines.append(f"  {'hop':<16} {'memory':>8} {'billed ms':>14} {'GB-s':>8} {'docs passed on':>15}  payload")
    lines += [f"  {_hop(hop)}" for hop in cost.hops]
    lines.append(f"  Express: {cost.transitions} state transitions (not billed), {cost.run_ms:,.0f} ms billed as "
                 f"{cost.express_billed_ms:,} ms at 64 MB")
    lines.append(f"  S3: claim checks {number(cost.claim_gets)} GET + {number(cost.claim_puts)} PUT, shard state "
                 f"{number(_quantity(cost.cost.items, 'GET: shard state'))} GET + "
                 f"{number(_quantity(cost.cost.items, 'PUT/LIST: shard state'))} PUT/LIST")
    by_service = ", ".join(f"{service} {money(dollars * 1e6)}" for service, dollars in _services(cost.cost.items))
    lines.append(f"  per 1M requests: {by_service} = {money(cost.cost.per_million)}")
    terms = " + ".join(f"{name} {value:,.0f}" for name, value in cost.latency_terms)
    lines.append(f"  latency: {cost.latency_ms:,.0f} ms = {terms} (a stage with its hop)")
    if cost.gpu_stages:
        lines.append(f"  not included: {', '.join(cost.gpu_stages)} on SageMaker, billed by the instance hour")
    return lines


def _hop(hop: Hop) -> str:
    name = hop.name if hop.shards == 1 else f"{hop.name} x{hop.shards}"
    memory = f"{hop.memory_mb:,} MB" if hop.memory_mb is not None else "GPU"
    ms = ", ".join(f"{ms:,.0f}" for ms in hop.ms) if len(set(hop.ms)) > 1 else f"{hop.ms[0]:,.0f}"
    if hop.shards > 1 and len(set(hop.ms)) == 1:
        ms += " each"
    payload = "inline" if hop.stored == 0 else (
        "claim check" if hop.stored >= hop.shards else f"claim check x{number(hop.stored)}")
    gb_s = f"{hop.gb_seconds:.4f}" if hop.memory_mb is not None else "-"
    return f"{name[:16]:<16} {memory:>8} {ms:>14} {gb_s:>8} {_bytes(hop.docs_bytes):>15}  {payload}"


def _bytes(count: float) -> str:
    return f"{count:,.0f} B"


def _quantity(items: tuple[Item, ...], what: str) -> float:
    return sum(item.quantity for item in items if item.what == what)


def _services(items: tuple[Item, ...]) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for item in items:
        totals[item.service] = totals.get(item.service, 0.0) + item.dollars
    return [(service, totals[service]) for service in SERVICES if service in totals]


def _batch(estimate: Estimate) -> list[str]:
    batch = estimate.batch
    if batch is None:
        return ["batch indexing: none (no executor serves /index)"]
    source = "measured" if batch.measured else "assumed"
    lines = [
        f"batch indexing through the Standard machine ({batch.endpoint}, one Express child a split; {source}):",
        f"  a file of {batch.run_docs:,} docs in {batch.splits:,} splits of {batch.split_docs:,}: "
        f"{batch.standard_transitions:,} Standard transitions (billed),",
        f"  {batch.child_transitions} transitions a child (not billed), a child billed {batch.child_billed_ms:,} ms "
        "at 64 MB",
    ]
    if batch.note:
        lines.append(f"  {batch.note}")
    by_service = ", ".join(f"{service} {money(dollars)}" for service, dollars in _services(batch.items))
    lines.append(f"  a run: {by_service} = {money(batch.per_run)}")
    docs = estimate.docs_per_request
    lines.append(f"  {money(batch.per_million_docs)} per million docs"
                 + (f" (through {batch.endpoint} at {docs:,} doc{'s' if docs != 1 else ''} a request: "
                    f"{money(batch.sync_per_million_docs)})" if batch.sync_per_million_docs is not None else "")
                 + f"; a month's {batch.endpoint} docs this way: {money(batch.per_month)}")
    return lines
