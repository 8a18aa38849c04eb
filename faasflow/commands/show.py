"""``faasflow show flow.yml``: the topology as text, and as a Mermaid or SVG diagram on request."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "show", help="print a Flow's topology (executors, shards, polling per endpoint, needs)",
        description="Print a Flow's topology: executors in run order, shards, polling per endpoint, needs.")
    parser.add_argument("flow", help="the Flow YAML file")
    parser.add_argument("--mermaid", metavar="OUT.md", help="also write a Mermaid diagram of it (Markdown)")
    parser.add_argument("--svg", metavar="OUT.svg",
                        help="also write it as an SVG diagram (the one `faasflow serve` shows at /)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import check_output_file, load_flow
    from faasflow.topology import mermaid_markdown, render_text

    for option, path in (("--mermaid", args.mermaid), ("--svg", args.svg)):
        if path:  # a folder or a missing folder is refused before the Flow is loaded for nothing
            check_output_file(path, option)
    plan = load_flow(args.flow).plan
    print(render_text(plan))
    if args.mermaid:
        _write(args.mermaid, mermaid_markdown(plan))
        print(f"Mermaid diagram written to {args.mermaid}")
    if args.svg:
        from faasflow.diagram import render_svg

        _write(args.svg, render_svg(plan))
        print(f"SVG diagram written to {args.svg}")
    return 0


def _write(path: str, text: str) -> None:
    """Write ``text``; a failure is one line naming the file (``faasflow.cli`` reports it)."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        from faasflow.errors import FaasflowError

        raise FaasflowError(f"cannot write {path}: {exc.strerror or exc}") from None
