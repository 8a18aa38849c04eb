"""``faasflow new NAME``: scaffold a project in faasflow's layout, built and tested from the start."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "new", help="scaffold a project: executors, a sharded Flow, tests, its SAM template",
        description="Create NAME/ in faasflow's layout: executors in functions/, the Flow in "
                    "orchestrator/flow.yml, tests in tests/ (in-process, and against a local AWS emulator), "
                    "and what `faasflow build` makes of the Flow (template.yaml, the state machines, "
                    "layers/, infra/). Then: cd NAME && python -m pytest; faasflow deploy orchestrator/flow.yml.")
    parser.add_argument("name", help="the project's name (and folder)")
    parser.add_argument("--directory", default=".", help="where to create it (default: here)")
    parser.set_defaults(handler=run)


def next_steps(root: Path) -> str:
    return (f"created {root}/ — next:\n"
            f"  cd {root}\n"
            "  python -m pip install -e '.[dev]'\n"
            "  python -m pytest\n"
            "  faasflow serve orchestrator/flow.yml\n"
            "  faasflow deploy orchestrator/flow.yml   # to AWS; --endpoint-url URL for an emulator")


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import fail
    from faasflow.scaffold import scaffold

    try:
        root = scaffold(args.name, Path(args.directory))
    except (ValueError, FileExistsError) as exc:
        return fail(str(exc))
    print(next_steps(root))
    return 0
