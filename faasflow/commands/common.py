"""What several commands share: loading a Flow file with errors a person can act on,
argparse types that refuse bad numbers up front, and the checks that turn a file the user
named into one line rather than a traceback (a missing extra: ``faasflow.extras``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from faasflow.errors import FaasflowError

if TYPE_CHECKING:
    from faasflow.flow import Flow

ORCHESTRATOR = "orchestrator"
STDIO = "-"


def import_roots(flow_file: Path) -> list[Path]:
    """Where a Flow file's ``package.module.Class`` executors import from, besides the current
    directory: the file's folder, and the project root when the file is in ``orchestrator/``
    (a faasflow project keeps its executors in ``functions/`` beside it)."""
    folder = flow_file.resolve().parent
    return [folder, folder.parent] if folder.name == ORCHESTRATOR else [folder]


def load_flow(path: str, workspace: str | None = None) -> Flow:
    """The Flow in ``path``, validated (a FlowConfigError names the executor and field)."""
    from faasflow.flow import Flow

    flow_file = Path(path)
    if flow_file.is_dir():
        raise FaasflowError(f"{path} is a folder; expected a Flow YAML file")
    if not flow_file.exists():
        raise FaasflowError(f"no such Flow file: {path}")
    for root in import_roots(flow_file):
        if str(root) not in sys.path:
            sys.path.append(str(root))
    flow = Flow.load_config(flow_file)
    if workspace is not None:
        flow.workspace = workspace
    return flow.build()


OPEN_API_WARNING = ("the Flow's API has no auth: anyone who learns its URL can call every endpoint; "
                    "set `auth: api_key` (an API key) or `auth: iam` (SigV4-signed requests) under the Flow's `with:`")


def warn_if_open(flow: Flow, to_aws: bool = True) -> None:
    """Say loudly, on stderr, that a Flow bound for AWS has an open API (the default)."""
    if to_aws and flow.plan.auth is None:
        print(f"faasflow: warning: {OPEN_API_WARNING}", file=sys.stderr)


def fail(message: str, code: int = 2) -> int:
    """Print ``faasflow: error: message`` on stderr (argparse's form) and return ``code``."""
    print(f"faasflow: error: {message}", file=sys.stderr)
    return code


def check_input_file(path: str, what: str, stdin: bool = True) -> None:
    """Refuse a missing or unreadable input file, or a folder, before a Flow is loaded for
    nothing; ``-`` means stdin where the command reads it (``stdin``)."""
    if path == STDIO and stdin:
        return
    file = Path(path)
    if path == STDIO:
        raise FaasflowError(f"{what}: reads a file, not stdin ('-')")
    if file.is_dir():
        raise FaasflowError(f"{what}: {path} is a folder, not a JSON-lines file")
    if not file.exists():
        raise FaasflowError(f"{what}: no such file: {path}")
    try:
        with file.open("rb"):
            pass
    except OSError as exc:
        raise FaasflowError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None


def check_output_file(path: str, what: str) -> None:
    """Refuse an output path that is a folder, or whose folder does not exist, before any
    work is done; ``-`` (stdout) is always fine."""
    if path == STDIO:
        return
    file = Path(path)
    if file.is_dir():
        raise FaasflowError(f"{what}: {path} is a folder, not a file to write")
    if not file.parent.is_dir():
        raise FaasflowError(f"{what}: cannot write {path}: no such folder: {file.parent}")


def int_in_range(low: int, high: int | None = None, what: str = "an integer") -> Callable[[str], int]:
    """An argparse ``type`` accepting integers in ``[low, high]``: a bad value is a usage
    error (exit code 2) before anything runs, not a failure halfway through."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type`` for seconds and the like: a number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


positive_int = int_in_range(1, what="a positive integer")
MAX_PORT = 65535
port_number = int_in_range(0, MAX_PORT, what="a port number")  # 0: the system picks a free one

