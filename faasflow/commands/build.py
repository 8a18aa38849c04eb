"""``faasflow build flow.yml``: the SAM template and state machine of a Flow."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    from faasflow.compiler.layout import DEFAULT_TEMPLATE

    parser = commands.add_parser(
        "build", help="compile a Flow to template.yaml (SAM) and its state machine",
        description="Compile a Flow to an AWS SAM template.yaml (a Lambda function per executor shard, an Express "
        "state machine, API Gateway, a bucket) and orchestrator/<flow>.asl.json, and stage the faasflow layer.")
    parser.add_argument("flow", help="the Flow YAML file")
    parser.add_argument("--out", default=".", help="the project folder to write into (default: .)")
    parser.add_argument("--template", default=DEFAULT_TEMPLATE,
                        help="the SAM template's file name in the project (default: template.yaml)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the files there are missing or stale")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import load_flow, warn_if_open
    from faasflow.compiler.artefacts import stale
    from faasflow.compiler.layout import DEFAULT_TEMPLATE
    from faasflow.deploy.layers import write

    flow = load_flow(args.flow)
    project = Path(args.out)
    if args.check:
        outdated = stale(flow.plan, project, args.template)
        for path in outdated:
            again = f" --template {args.template}" if args.template != DEFAULT_TEMPLATE else ""
            print(f"stale: {path} (run `faasflow build {args.flow}{again}`)")
        if not outdated:
            print(f"{args.template} and the state machine are up to date")
        return 1 if outdated else 0
    warn_if_open(flow)
    for path in write(flow.plan, project, args.template):
        print(f"wrote {path}")
    return 0
