"""A deployed Flow and the same Flow embedded, given the same corpus: the deployment
must answer as the embedded engine does."""

from __future__ import annotations

from collections.abc import Iterator
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
