"""The ``faasflow`` command line."""

from __future__ import annotations

import argparse
import os
import sys

from faasflow import __version__


def _show(args: argparse.Namespace) -> int:
    from faasflow.flow import Flow

    plan = Flow.load_config(args.flow).plan
    print(f"Flow {plan.name!r}")
    for spec in plan.executors:
        polling = spec.polling.to_config()
        print(f"  {spec.name}: uses {spec.uses}, shards {spec.shards}, polling {polling}, needs {', '.join(spec.needs)}")
    print(f"  answer: merge of {', '.join(plan.sinks)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faasflow", description="Jina-style Flows, in-process, over HTTP, on AWS.")
    parser.add_argument("--version", action="version", version=f"faasflow {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    show = commands.add_parser("show", help="print a Flow's topology")
    show.add_argument("flow", help="the Flow YAML file")
    show.set_defaults(handler=_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Executors named as 'package.module.Class' import from the current directory, as with uvicorn.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
