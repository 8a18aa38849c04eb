"""``faasflow cost flow.yml``: what one request of each endpoint costs on AWS, and the
alternatives (one Lambda function; batch indexing), from the state machines ``faasflow
build`` would write and a dated price table (``faasflow.cost``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faasflow.commands.common import int_in_range

if TYPE_CHECKING:
    from faasflow.plan import Plan

MAX_REQUESTS = 10**12
MAX_DOCS = 10_000

requests_per_month = int_in_range(1, MAX_REQUESTS, what="a number of requests")
docs_per_request = int_in_range(1, MAX_DOCS, what="a number of documents")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "cost", help="estimate what a request costs on AWS, per endpoint, and the alternatives",
        description="Price one request of each endpoint on AWS: API Gateway, Lambda invocations and GB-seconds, "
        "the Express run (its state transitions reported), S3 requests for claim checks and shard state; per "
        "million requests and per month; a latency estimate; and the same Flow as one Lambda function, and batch "
        "indexing through the Standard machine. Durations and bytes are assumed unless --sample measures them.")
    parser.add_argument("flow", help="the Flow YAML file")
    parser.add_argument("--sample", metavar="DOCS.jsonl",
                        help="measure each executor's time and the bytes of each hop on these documents (JSON lines)")
    parser.add_argument("--requests", type=requests_per_month, default=1_000_000, metavar="N",
                        help="requests a month to each endpoint (default 1,000,000)")
    parser.add_argument("--docs-per-request", type=docs_per_request, default=1, metavar="K",
                        help=f"documents a request, 1 to {MAX_DOCS:,} (default 1)")
    parser.add_argument("--prices", metavar="FILE",
                        help="a JSON price table overriding faasflow's (the same shape; each price names its source)")
    parser.add_argument("--json", action="store_true", help="print every figure, and each price's source, as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import check_input_file, load_flow
    from faasflow.cost.estimate import price_flow
    from faasflow.cost.prices import load_prices
    from faasflow.cost.report import render, to_json

    prices = load_prices(args.prices)  # a bad table, a bad sample: refused before the Flow is built
    sample = None
    if args.sample:
        from faasflow.cost.measure import read_sample

        check_input_file(args.sample, "argument --sample", stdin=False)
        sample = read_sample(args.sample)
    flow = load_flow(args.flow)
    deployment, asl, batch_asl, batch_endpoint = compile_flow(flow.plan)
    estimate = price_flow(flow.plan, deployment, asl, batch_asl, batch_endpoint, prices, args.requests,
                          args.docs_per_request, sample)
    print(to_json(estimate) if args.json else render(estimate))
    return 0


def compile_flow(plan: Plan) -> tuple[Any, dict[str, Any], dict[str, Any] | None, str | None]:
    """What ``faasflow build`` would make of ``plan``: the deployment, the Express machine,
    and the batch machine with the route its children run (None without batch indexing)."""
    from faasflow.compiler.asl import compile_asl
    from faasflow.compiler.batch_asl import compile_batch_asl, index_route
    from faasflow.compiler.decide import decide
    from faasflow.compiler.layout import asl_file_name
    from faasflow.compiler.routes import plan_routes

    routes = plan_routes(plan)
    deployment = decide(plan, Path("."), asl_file_name(plan.name), routes)
    asl = compile_asl(plan, routes)
    batch_route = index_route(plan, routes)
    batch_asl = compile_batch_asl(plan, routes=routes) if batch_route is not None else None
    return deployment, asl, batch_asl, batch_route.key if batch_route is not None else None
