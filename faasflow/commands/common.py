"""What several commands share: loading a Flow file with errors a person can act on."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faasflow.flow import Flow

ORCHESTRATOR = "orchestrator"


def import_roots(flow_file: Path) -> list[Path]:
    """Where a Flow file's ``package.module.Class`` executors import from, besides the current
    directory: the file's folder, and the project root when the file is in ``orchestrator/``
    (a faasflow project keeps its executors in ``functions/`` beside it)."""
    folder = flow_file.resolve().parent
    return [folder, folder.parent] if folder.name == ORCHESTRATOR else [folder]


def load_flow(path: str, workspace: str | None = None) -> Flow:
    """The Flow in ``path``, validated (a FlowConfigError names the executor and field)."""
    from faasflow.flow import Flow

    for root in import_roots(Path(path)):
        if str(root) not in sys.path:
            sys.path.append(str(root))
    flow = Flow.load_config(path)
    if workspace is not None:
        flow.workspace = workspace
    return flow.build()


def fail(message: str, code: int = 2) -> int:
    print(f"faasflow: error: {message}", file=sys.stderr)
    return code
