"""The cost model's arithmetic, checked against hand calculations from the published prices
(DESIGN.md, us-east-1: written out here as numbers, not read from faasflow's table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faasflow.commands.common import load_flow
from faasflow.commands.cost import compile_flow
from faasflow.cost.estimate import price_flow
from faasflow.cost.model import Assumptions, EndpointCost, Estimate, shard_docs
from faasflow.cost.paths import endpoints, run_path
from faasflow.cost.prices import load_prices

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "orchestrator" / "flow.yml")

# Published prices, us-east-1 (DESIGN.md, "Published prices")
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_S = 0.0000166667
EXPRESS_REQUEST = 1.00 / 1_000_000
EXPRESS_GB_S = 0.00001667
STANDARD_TRANSITION = 0.025 / 1_000
API_REQUEST = 3.50 / 1_000_000
S3_GET, S3_PUT = 0.0004 / 1_000, 0.005 / 1_000
# The model's documented overheads (faasflow.cost.model): 15 ms to start a run, 30 ms a hop
START_RUN_MS, HOP_MS, API_EDGE_MS = 15, 30, 25

FIXED = Assumptions(stage_ms=100, per_doc_ms=0, doc_bytes=1_000, gateway_ms=20)


@pytest.fixture(scope="module")
def compiled():
    flow = load_flow(FLOW)
    return flow.plan, compile_flow(flow.plan)


def reference_estimate(compiled, docs: int = 1, requests: int = 2_000_000) -> Estimate:
    plan, (deployment, asl, batch_asl, batch_endpoint) = compiled
    return price_flow(plan, deployment, asl, batch_asl, batch_endpoint, load_prices(), requests, docs, None, FIXED)


def endpoint(estimate: Estimate, key: str) -> EndpointCost:
    return next(cost for cost in estimate.endpoints if cost.endpoint == key)


def test_query_per_million_matches_a_hand_calculation(compiled):
    """/query: featurizer (512 MB), db x3 ALL (512 MB each), ranker (512 MB), 100 ms a shard."""
    estimate = reference_estimate(compiled)
    query = endpoint(estimate, "/query")
    run_ms = 3 * (100 + HOP_MS)  # 390 ms: three stages in sequence, each with its hop
    express_billed_s = 0.4  # 100 ms steps
    gateway_s = (20 + START_RUN_MS + run_ms) / 1000  # the gateway waits for the run
    stages_gb_s = 5 * 0.5 * 0.1  # five shard invocations of 100 ms at 512 MB
    by_hand = (API_REQUEST
               + 6 * LAMBDA_REQUEST  # the gateway and five shards
               + (0.5 * gateway_s + stages_gb_s) * LAMBDA_GB_S
               + EXPRESS_REQUEST + 64 / 1024 * express_billed_s * EXPRESS_GB_S)
    assert by_hand * 1e6 == pytest.approx(13.8251, abs=1e-4)  # the figure worked out on paper
    assert query.cost.per_million == pytest.approx(by_hand * 1e6, rel=1e-9)
    assert query.cost.per_month == pytest.approx(by_hand * 2_000_000, rel=1e-9)
    assert query.express_billed_ms == 400 and query.transitions == 11
    assert query.latency_ms == pytest.approx(API_EDGE_MS + 20 + START_RUN_MS + run_ms)


def test_an_any_stage_invokes_every_shard_even_those_with_no_docs(compiled):
    index = endpoint(reference_estimate(compiled), "/index")
    db = next(hop for hop in index.hops if hop.name == "db")
    assert db.ms == (100.0, 1.0, 1.0)  # one doc: one shard works, two answer at once (1 ms billed)
    invocations = next(item for item in index.cost.items if item.what == "invocations")
    assert invocations.quantity == 5  # gateway, featurizer, three db shards


def test_claim_checks_are_counted_per_reader(compiled):
    """40 docs of 1,000 bytes: 40 KB, over /query's 33,333-byte inline limit on every hop."""
    query = endpoint(reference_estimate(compiled, docs=40), "/query")
    # PUT: the request, featurizer, each db shard (ALL: all 40 docs), ranker
    assert query.claim_puts == 1 + 1 + 3 + 1
    # GET: featurizer reads the request; each db shard featurizer's; ranker all three db
    # answers; the gateway ranker's answer
    assert query.claim_gets == 1 + 3 + 3 + 1
    s3 = sum(item.dollars for item in query.cost.items if item.service == "S3")
    assert s3 == pytest.approx(8 * S3_GET + 6 * S3_PUT)


def test_one_function_alternative_by_hand(compiled):
    single = next(one for one in reference_estimate(compiled).one_function if one.endpoint == "/query")
    seconds = (20 + 5 * 100) / 1000  # the gateway's work and every shard, in sequence
    by_hand = API_REQUEST + LAMBDA_REQUEST + 0.5 * seconds * LAMBDA_GB_S
    assert single.memory_mb == 512
    assert single.cost.per_million == pytest.approx(by_hand * 1e6, rel=1e-9)


def test_batch_alternative_bills_standard_transitions_per_child(compiled):
    batch = reference_estimate(compiled).batch
    assert batch is not None and batch.endpoint == "/index"
    assert (batch.run_docs, batch.split_docs, batch.splits) == (10_000, 100, 100)
    # the Map state, the summary, the final Choice and Succeed, and one per child started
    assert batch.standard_transitions == 4 + 100
    standard = sum(item.dollars for item in batch.items if item.service == "Step Functions Standard")
    assert standard == pytest.approx(104 * STANDARD_TRANSITION)
    express = [item for item in batch.items if item.service == "Step Functions Express"]
    assert express[0].dollars == pytest.approx(100 * EXPRESS_REQUEST)
    assert batch.per_million_docs == pytest.approx(batch.per_run / 10_000 * 1e6)


def test_transitions_are_read_from_the_generated_state_machine(compiled):
    """The committed ASL of the reference app walks the same as the one compiled now."""
    _, (_, asl, _, _) = compiled
    committed = json.loads((ROOT / "orchestrator" / "sharded-search.asl.json").read_text())
    assert endpoints(asl) == endpoints(committed) == ["/count", "/index", "/query", "/search", "*"]
    for key in endpoints(asl):
        assert run_path(asl, key).transitions == run_path(committed, key).transitions
    query = run_path(asl, "/query")
    # route, featurizer (task, check), db (parallel, 3 tasks, check), ranker (task, check), answer
    assert query.transitions == 1 + 2 + 5 + 2 + 1
    assert [(s.name, s.mode, s.shards) for s in query.stages] == [
        ("featurizer", "single", 1), ("db", "ALL", 3), ("ranker", "single", 1)]
    assert query.answer_reads == ("ranker",)


def test_a_gpu_stage_is_on_the_path_but_not_billed_per_request(tmp_path):
    """A SageMaker endpoint bills instance hours: its stage counts for time, not for dollars."""
    gpu_flow = tmp_path / "flow.yml"
    gpu_flow.write_text(Path(FLOW).read_text().replace(
        "uses: functions.ranker.Ranker", "uses: functions.ranker.Ranker\n    gpu: true"))
    plan = load_flow(str(gpu_flow)).plan
    query = endpoint(reference_estimate((plan, compile_flow(plan))), "/query")
    assert query.gpu_stages == ("ranker",)
    assert query.transitions == 1 + 2 + 5 + 4 + 1  # the GPU branch: Parallel, Pass, Task, check
    invocations = next(item for item in query.cost.items if item.what == "invocations")
    assert invocations.quantity == 5  # the gateway, featurizer and three db shards
    assert query.run_ms == 3 * (100 + HOP_MS)


@pytest.mark.parametrize(("mode", "docs", "expected"), [
    ("ANY", 1, [1, 0, 0]), ("ANY", 7, [3, 2, 2]), ("ALL", 7, [7, 7, 7]), ("single", 4, [4])])
def test_shard_docs(mode, docs, expected):
    assert shard_docs(mode, len(expected), docs) == expected
