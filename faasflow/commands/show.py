"""``faasflow show flow.yml``: the topology as text, and as a Mermaid diagram on request."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "show", help="print a Flow's topology (executors, shards, polling per endpoint, needs)",
        description="Print a Flow's topology: executors in run order, shards, polling per endpoint, needs.")
    parser.add_argument("flow", help="the Flow YAML file")
    parser.add_argument("--mermaid", metavar="OUT.md", help="also write a Mermaid diagram of it (Markdown)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import load_flow
    from faasflow.topology import mermaid_markdown, render_text

    plan = load_flow(args.flow).plan
    print(render_text(plan))
    if args.mermaid:
        Path(args.mermaid).write_text(mermaid_markdown(plan))
        print(f"Mermaid diagram written to {args.mermaid}")
    return 0
