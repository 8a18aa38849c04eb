"""A deployed Flow and the same Flow embedded, given the same corpus: the deployment
must answer as the embedded engine does."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faasflow import Client, DocumentArray, Flow


def embedded_with(flow_yaml: Path, corpus: DocumentArray, workspace: Path, request_size: int) -> Iterator[Flow]:
    """The Flow started in-process with ``corpus`` indexed (a generator for a fixture)."""
    flow = Flow.load_config(flow_yaml)
    flow.workspace = str(workspace)
    with flow:
        flow.post("/index", corpus, request_size=request_size)
        yield flow


def deployed_with(url: str, corpus: DocumentArray, request_size: int, timeout: float) -> Client:
    """A client of the deployed Flow at ``url``, after indexing ``corpus`` through it."""
    client = Client(url, timeout=timeout)
    answer = client.post("/index", corpus, request_size=request_size)
    assert answer.ids == corpus.ids
    return client


@contextmanager
def project_of(root: Path, package: str, executors_file: str, flow_yaml: str) -> Iterator[Path]:
    """A project of its own at ``root``: ``executors_file`` copied in as
    ``<package>/executors.py``, ``flow_yaml`` as ``orchestrator/flow.yml``, importable while open."""
    (root / package).mkdir()
    (root / package / "__init__.py").write_text("")
    shutil.copy(executors_file, root / package / "executors.py")
    (root / "orchestrator").mkdir()
    (root / "orchestrator" / "flow.yml").write_text(flow_yaml)
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))


@contextmanager
def deployed_and_embedded(project: Path, stack: str, endpoint: str) -> Iterator[tuple[Client, Flow]]:
    """The project's Flow deployed to the emulator at ``endpoint`` (a client of it) and
    started in-process beside it."""
    from faasflow.deploy.layers import write
    from faasflow.deploy.sam import deploy

    flow = Flow.load_config(project / "orchestrator" / "flow.yml")
    flow.workspace = str(project / "workspace")
    write(flow.plan, project)
    outputs = deploy(project, stack, endpoint_url=endpoint)
    with flow, Client(outputs["ApiUrlLocal"], timeout=120) as client:
        yield client, flow
