"""``faasflow show flow.yml``: the topology as text, and as a Mermaid or SVG diagram on request."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "show", help="print a Flow's topology (executors, shards, polling per endpoint, needs)",
        description="Print a Flow's topology: executors in run order, shards, polling per endpoint, needs.")
    parser.add_argument("flow", help="the Flow YAML file")
    parser.add_argument("--mermaid", metavar="OUT.md",
                        help="also write a Mermaid diagram of it (Markdown); '-': only the diagram, on stdout")
    parser.add_argument("--svg", metavar="OUT.svg",
                        help="also write it as an SVG diagram (the one `faasflow serve` shows at /); "
                        "'-': only the diagram, on stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import STDIO, check_output_file, load_flow
    from faasflow.errors import FaasflowError
    from faasflow.topology import mermaid_markdown, render_text

    outputs = {option: path for option, path in (("--mermaid", args.mermaid), ("--svg", args.svg)) if path is not None}
    for option, path in outputs.items():  # refused before the Flow is loaded for nothing
        if not path:
            raise FaasflowError(f"{option} needs a file name (or '-' for stdout), got ''")
        check_output_file(path, option)
    if len(outputs) == 2 and Path(args.mermaid).resolve() == Path(args.svg).resolve():
        raise FaasflowError(f"--mermaid and --svg name the same file ({args.svg}): one would overwrite the other")
    plan = load_flow(args.flow).plan
    to_stdout = STDIO in outputs.values()
    if not to_stdout:
        print(render_text(plan))
    if args.mermaid is not None:
        _write(args.mermaid, mermaid_markdown(plan), "Mermaid")
    if args.svg is not None:
        from faasflow.diagram import render_svg

        _write(args.svg, render_svg(plan), "SVG")
    return 0


def _write(path: str, text: str, kind: str) -> None:
    """Write ``text`` (``-``: to stdout, alone); a failure is one line naming the file
    (``faasflow.cli`` reports it)."""
    from faasflow.commands.common import STDIO

    if path == STDIO:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        from faasflow.errors import FaasflowError

        raise FaasflowError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"{kind} diagram written to {path}")
