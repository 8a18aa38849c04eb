"""The ``faasflow`` command line: ``new``, ``run``, ``index``, ``serve``, ``show``, ``ping``,
``build``, ``deploy``, ``status``.

Only commands that work are listed; each lives in ``faasflow.commands``.
"""

from __future__ import annotations

import argparse
import os
import sys

from faasflow import __version__
from faasflow.commands import build, deploy, index, new, ping, run, serve, show, status
from faasflow.errors import FaasflowError

COMMANDS = (new, run, index, serve, show, ping, build, deploy, status)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faasflow", description="Jina-style Flows: in-process, over HTTP, on AWS.")
    parser.add_argument("--version", action="version", version=f"faasflow {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        command.register(commands)
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
    try:
        return args.handler(args)
    except FaasflowError as exc:
        print(f"faasflow: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
