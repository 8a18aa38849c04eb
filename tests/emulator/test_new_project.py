"""A user's own project, made as a new user makes one: `faasflow new`, executors of their
own that put numpy scalars, arrays and bytes in tags, a `needs` join over a sharded store,
then `faasflow deploy` to the emulator. Deployed, it answers what it answers embedded, in
the wire form every mode shares (numpy numbers as numbers, arrays as lists, bytes as
base64 text)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faasflow import Client, Document, DocumentArray, Flow, codec
from faasflow.client import GatewayFlowError
from faasflow.errors import FlowError
from faasflow.testing import MiniStack
from tests.support.results import per_shard
from tests.support.user_project import FLOW, JOIN, STATS

pytestmark = pytest.mark.emulator

LINES = ["the quick brown fox", "a lazy dog sleeps", "quick brown dogs run fast", "foxes and dogs",
         "nothing in common here", "the fox jumps over the lazy dog"]


def faasflow(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "faasflow", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, timeout=900)
    assert done.returncode == 0, f"faasflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    parent = tmp_path_factory.mktemp("new-project")
    faasflow("new", "numtags", cwd=parent)
    root = parent / "numtags"
    (root / "functions" / "stats.py").write_text(STATS)
    (root / "functions" / "join.py").write_text(JOIN)
    (root / "orchestrator" / "flow.yml").write_text(FLOW)
    # the reference app has a `functions` package of its own: set it aside while this one is in use
    theirs = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] == "functions"}
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] == "functions"]:
            del sys.modules[name]
        sys.modules.update(theirs)


@pytest.fixture(scope="module")
def both(project: Path, ministack: MiniStack) -> Iterator[tuple[Client, Flow]]:
    ministack.reset()
    outputs = json.loads(faasflow("deploy", "orchestrator/flow.yml", "--endpoint-url", ministack.endpoint, "--json",
                                  cwd=project))
    embedded = Flow.load_config(project / "orchestrator" / "flow.yml")
    embedded.workspace = str(project / "workspace")
    with embedded:
        yield Client(outputs["ApiUrlLocal"], timeout=120), embedded


def wire(docs: DocumentArray) -> list:
    return codec.to_plain(codec.docs_to_list(docs))


def test_numpy_and_bytes_tags_cross_every_deployed_hop_as_embedded(both: tuple[Client, Flow]):
    client, embedded = both
    docs = DocumentArray(Document(id=f"d{i}", text=line) for i, line in enumerate(LINES))
    remote, local = client.post("/index", docs), embedded.post("/index", docs)
    assert wire(remote) == wire(local)
    first = remote[0].tags
    assert first["words"] == 4 and first["lengths"] == [len(token) for token in first["tokens"]]
    assert first["raw"] == "dGhlIA=="  # b"the " as base64
    assert first["nested"] == {"first": first["tokens"][:1], "pair": [1, 0.5]} and first["joined_from"] == 2

    queries = DocumentArray([Document(id="q1", text="quick fox"), Document(id="q2", text="lazy dogs")])
    remote, local = client.post("/search", queries, parameters={"limit": 3}), embedded.post(
        "/search", queries, parameters={"limit": 3})
    assert wire(remote) == wire(local)
    assert remote[0].matches and remote[0].tags["words"] == 2

    remote_counts = client.post("/count", DocumentArray(), return_responses=True)[0].parameters["__results__"]
    local_counts = embedded.post("/count", DocumentArray(), return_responses=True)[0].parameters["__results__"]
    assert per_shard(remote_counts, "index") == per_shard(local_counts, "index")
    assert sum(c["count"] for c in per_shard(remote_counts, "index")) == 6


def test_a_tag_no_mode_can_carry_is_refused_the_same_way(both: tuple[Client, Flow]):
    client, embedded = both
    with pytest.raises(GatewayFlowError) as remote:
        client.post("/poison", Document(id="p", text="x"))
    with pytest.raises(FlowError) as local:
        embedded.post("/poison", Document(id="p", text="x"))
    assert (remote.value.executor, remote.value.shard) == (local.value.executor, local.value.shard) == ("stats", 0)
    assert "document 'p' tags.seen: a value of type set cannot be sent" in str(remote.value.cause)
    assert str(remote.value.cause) == str(local.value.cause)
    assert remote.value.error_type == local.value.error_type == "BadInputError"
