"""``faasflow new NAME``: scaffold a project with a working Flow and its test."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "new", help="scaffold a project: executors, a sharded Flow, a test",
        description="Create NAME/ with executors in functions/, the Flow in orchestrator/flow.yml and a "
                    "test in tests/ that passes right away (cd NAME && python -m pytest).")
    parser.add_argument("name", help="the project's name (and folder)")
    parser.add_argument("--directory", default=".", help="where to create it (default: here)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import fail
    from faasflow.scaffold import scaffold

    try:
        root = scaffold(args.name, Path(args.directory))
    except (ValueError, FileExistsError) as exc:
        return fail(str(exc))
    print(f"created {root}/ — next:\n  cd {root}\n  python -m pytest\n  faasflow show orchestrator/flow.yml\n"
          f"  faasflow serve orchestrator/flow.yml")
    return 0
