"""A Flow of the conformance suite's shapes, deployed to the emulator from a project of its
own: a join of an ANY-sharded and an ALL-sharded branch, numpy, bytes and tuple tags, dict
results, a raising and a refusing executor. The deployed answers, in wire form, are the
embedded ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from faasflow import Client, Document, DocumentArray, Flow
from faasflow.testing import MiniStack
from tests.support import conformance_executors
from tests.support.conformance import ExecutorCase, FlowCase, RequestCase, run_posting
from tests.support.side_by_side import deployed_and_embedded, project_of

pytestmark = pytest.mark.emulator

MODULE = "conffns.executors"
CASE = FlowCase((
    ExecutorCase("head", "Tagger", {"extras": True}),
    ExecutorCase("hits", "Matcher", {"k": 2, "metric": "euclidean"}, shards=2,
                 polling={"/search": "ALL", "*": "ANY"}, needs=("head",)),
    ExecutorCase("side", "Replacer", {"keep_ids": True}, shards=3, polling="ANY", needs=("head",)),
    ExecutorCase("join", "Joiner", needs=("hits", "side")),
    ExecutorCase("tail", "Reporter", shards=2, polling="ALL", needs=("join",)),
))


def documents() -> DocumentArray:
    """Unicode ids, numpy, bytes and nested tags, an embedding of each dtype, matches, chunks."""
    dtypes = ("float32", "float64", "int64", "float16")
    return DocumentArray(
        Document(id=f"dök-{i}", text=f"τext {i}", embedding=np.arange(3).astype(dtypes[i % 4]),
                 tags={"in_n": np.int64(i), "in_f": np.float32(i) / 2, "in_b": np.bool_(i % 2),
                       "in_arr": np.arange(i, dtype=np.int32), "in_raw": bytes([i, 255]),
                       "in_nested": {"list": [i, {"deep": (i, "x")}]}},
                 matches=[Document(id=f"dök-{i}>m", scores={"euclidean": i / 4})],
                 chunks=[Document(id=f"dök-{i}#0", text="chunk")])
        for i in range(6))


REQUESTS = [
    RequestCase("/index", documents(), {}),
    RequestCase("/search", documents(), {"limit": 2}),
    RequestCase("/search", documents(), {"hits": {"limit": 1}}),
    RequestCase("/other", documents(), {}),
    RequestCase("/search", DocumentArray(), {}),
    RequestCase("/index", documents(), {"join": {"fail": "raise"}}),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    flow_yaml = yaml.safe_dump(CASE.config(MODULE, "conformance-check"), sort_keys=False)
    with project_of(tmp_path_factory.mktemp("conformance-project"), "conffns", conformance_executors.__file__,
                    flow_yaml) as root:
        yield root


@pytest.fixture(scope="module")
def flows(project: Path, ministack: MiniStack) -> Iterator[tuple[Client, Flow]]:
    ministack.reset()
    with deployed_and_embedded(project, "faasflow-conformance", ministack.endpoint) as both:
        yield both


@pytest.mark.parametrize("request_case", REQUESTS, ids=lambda r: f"{r.endpoint}-{len(r.docs)}-{r.parameters}")
def test_deployed_answers_as_embedded(flows: tuple[Client, Flow], request_case: RequestCase) -> None:
    client, embedded = flows
    local = run_posting(embedded, request_case)
    assert run_posting(client, request_case) == local
    if "fail" not in str(request_case.parameters):
        assert local.error is None and len(local.docs) == len(request_case.docs)


@pytest.mark.parametrize("kind", ["set", "nan", "bigint", "intkey"])
def test_deployed_refuses_as_embedded(flows: tuple[Client, Flow], kind: str) -> None:
    client, embedded = flows
    doc = Document(id="dök-refused", text="x")
    request = RequestCase("/search", DocumentArray([doc]), {"hits": {"fail": kind, "fail_shard": 1}})
    local = run_posting(embedded, request)
    assert run_posting(client, request) == local
    assert local.error is not None and local.error[:4] == ("hits", 1, "/search", "BadInputError")
    assert f"document {doc.id!r} tags.bad.deep[1]: " in local.error[4]
