"""From a compiled Flow to its estimate: the paths read from both state machines, a
profile for each (measured on the sample when there is one, else assumed), priced."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from faasflow.batch import DEFAULT_BATCH_SIZE
from faasflow.cost.model import Assumptions, Estimate, Memories, RunProfile, assumed_profile, estimate
from faasflow.cost.paths import BatchPath, RunPath, batch_path, endpoints, run_path
from faasflow.cost.prices import PriceTable

if TYPE_CHECKING:
    from faasflow.compiler.model import Deployment
    from faasflow.cost.measure import Sample
    from faasflow.plan import Plan

INDEX, DELETE = "/index", "/delete"
BATCH_REQUESTS = 10  # splits measured for the batch alternative


def price_flow(plan: Plan, deployment: Deployment, asl: Mapping[str, Any], batch_asl: Mapping[str, Any] | None,
               batch_endpoint: str | None, prices: PriceTable, requests: int, docs: int,
               sample: Sample | None = None, assumed: Assumptions | None = None) -> Estimate:
    """What a request of each endpoint costs; ``batch_asl`` (whose children run the route
    ``batch_endpoint``) None when the Flow has no batch indexing."""
    assumed = assumed or Assumptions()
    memories = Memories.of(deployment)
    paths = [run_path(asl, key) for key in endpoints(asl)]
    batch = batch_path(batch_asl, batch_endpoint) if batch_asl is not None and batch_endpoint else None
    if sample is None:
        profiles = {path.endpoint: assumed_profile(path, docs, assumed, memories.gateway_inline_limit)
                    for path in paths}
        batch_profile = _assumed_split(batch, assumed) if batch is not None else None
    else:
        profiles, batch_profile = _measured(plan, paths, batch, memories, sample, docs, assumed)
    made = estimate(memories.flow, paths, profiles, memories, prices, assumed, requests, docs, batch, batch_profile)
    return replace(made, sample=sample.path) if sample is not None else made


def _assumed_split(batch: BatchPath, assumed: Assumptions, note: str | None = None) -> RunProfile:
    return assumed_profile(batch.child, DEFAULT_BATCH_SIZE, assumed, _entry_limit(batch), note)


def _entry_limit(batch: BatchPath) -> int:
    from faasflow.wire import BATCH_INLINE_LIMIT

    return batch.child.entry_limit or BATCH_INLINE_LIMIT


def _measured(plan: Plan, paths: Sequence[RunPath], batch: BatchPath | None, memories: Memories, sample: Sample,
              docs: int, assumed: Assumptions) -> tuple[dict[str, RunProfile], RunProfile | None]:
    """Every path measured on the sample, ``/index`` first (so that reads have data), then
    a batch split, then reads and ``/update``, and ``/delete`` last (so that nothing is
    measured on an emptied index); a path whose executor failed falls back to the
    assumptions, saying why."""
    from faasflow.cost.measure import measure, requests_of

    ordered = sorted(paths, key=lambda path: (path.endpoint != INDEX, path.endpoint == DELETE))
    runs: list[tuple[RunPath, Sequence[Any], int]] = [
        (path, requests_of(sample.docs, docs), memories.gateway_inline_limit) for path in ordered]
    if batch is not None:
        runs.insert(1 if ordered and ordered[0].endpoint == INDEX else 0,
                    (batch.child, requests_of(sample.docs, DEFAULT_BATCH_SIZE, BATCH_REQUESTS), _entry_limit(batch)))
    measured = measure(plan, runs, sample.line_bytes)
    profiles: dict[str, RunProfile] = {}
    batch_profile = None
    for (path, _, limit), outcome in zip(runs, measured):
        is_batch = batch is not None and path is batch.child
        if isinstance(outcome, str):
            note = f"measuring failed, so assumed: {outcome}"
            outcome = (_assumed_split(batch, assumed, note) if is_batch and batch is not None
                       else assumed_profile(path, docs, assumed, limit, note))
        if is_batch:
            batch_profile = outcome
        else:
            profiles[path.endpoint] = outcome
    return profiles, batch_profile
