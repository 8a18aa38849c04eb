"""The ``faasflow`` command line: ``new``, ``run``, ``index``, ``serve``, ``show``, ``ping``,
``build``, ``cost``, ``deploy``, ``status``, ``fsck``, ``tools``.

Only commands that work are listed; each lives in ``faasflow.commands``.

Every failure ends the same way: one line, ``faasflow: error: ...``, on stderr (argparse's
form) and a non-zero exit code; ``FAASFLOW_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from faasflow import __version__
from faasflow.commands import build, cost, deploy, fsck, index, new, ping, run, serve, show, status, tools
from faasflow.commands.common import fail
from faasflow.errors import FaasflowError

COMMANDS = (new, run, index, serve, show, ping, build, cost, deploy, status, fsck, tools)
DEBUG_ENV = "FAASFLOW_DEBUG"
USAGE_ERROR = 2  # argparse's exit code for a command line it refuses; ours for what the user named
FAILED = 1
INTERRUPTED = 130
DEBUG_HINT = f"re-run with {DEBUG_ENV}=1 to see the traceback"


def debugging() -> bool:
    """Whether ``FAASFLOW_DEBUG`` asks for tracebacks (any value but empty, 0, false, no)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def describe(exc: BaseException, hint: bool = True) -> tuple[str, int]:
    """The one line and exit code for an exception a command raised: faasflow's own errors
    and files the user named are the user's to fix; anything else is a bug, reported with
    a hint to get its traceback rather than swallowed."""
    if isinstance(exc, FaasflowError):
        return str(exc), USAGE_ERROR
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}", FAILED
    detail = _first_line(str(exc))
    kind = type(exc).__name__
    suffix = f" ({DEBUG_HINT})" if hint else ""
    if isinstance(exc, OSError):
        return f"{detail or kind}{suffix}", FAILED
    return f"unexpected {kind}{': ' + detail if detail else ''}{suffix}", FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faasflow", description="Jina-style Flows: in-process, over HTTP, on AWS.",
        epilog=f"An error is one line on stderr, 'faasflow: error: ...'; {DEBUG_ENV}=1 adds its traceback.")
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
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one line for every failure; FAASFLOW_DEBUG=1 shows the traceback
        debug = debugging()
        if debug:
            traceback.print_exc()
        message, code = describe(exc, hint=not debug)
        return fail(message, code)
    return code


if __name__ == "__main__":
    sys.exit(main())
