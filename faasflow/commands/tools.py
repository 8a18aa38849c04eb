"""``faasflow tools``: install the SAM CLI and the MiniStack emulator for a runtime, once."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    from faasflow.runtimes import DEFAULT_RUNTIME, RUNTIMES

    parser = commands.add_parser(
        "tools", help="install the SAM CLI and the MiniStack emulator (what the emulator tests deploy with)",
        description="Create the pinned SAM CLI and MiniStack environments (each in its own venv, made with the "
        "runtime's Python, which must be installed) and print where they are. Idempotent; the emulator "
        "fixtures make them on first use too. Where: $FAASFLOW_TOOLS_DIR, else ~/.cache/faasflow/tools.")
    parser.add_argument("--runtime", action="append", choices=RUNTIMES, metavar="RUNTIME",
                        help=f"the Lambda runtime to install the emulator for: {', '.join(RUNTIMES)} "
                        f"(default {DEFAULT_RUNTIME}; repeat for several)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import fail
    from faasflow.deploy.tools import ToolsUnavailable, ensure_tools
    from faasflow.runtimes import DEFAULT_RUNTIME

    for runtime in args.runtime or [DEFAULT_RUNTIME]:
        try:
            paths = ensure_tools(runtime)
        except ToolsUnavailable as exc:
            return fail(str(exc), 1)
        print(f"sam: {paths['sam']}\nministack ({runtime}): {paths['ministack']}")
    return 0
