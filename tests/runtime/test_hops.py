"""The serverless semantics equal the embedded engine's: same docs, same order, same
scores, same results, for the reference app and for DAGs with joins and sharded stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.common import load_corpus
from examples.sharded_search.__main__ import FLOW_YAML
from examples.sharded_search.corpus import write_corpus
from faasflow import Document, DocumentArray, Executor, Flow, FlowError, requests
from tests.support.dag_executors import dag_flow
from tests.support.simulate import SimulatedStateMachine


@pytest.fixture(autouse=True)
def payload_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAASFLOW_PAYLOAD_URL", str(tmp_path / "payloads"))
    return tmp_path / "payloads"


def same(a: DocumentArray, b: DocumentArray) -> None:
    assert [d.to_dict() for d in a] == [d.to_dict() for d in b]


def test_reference_app_conforms(tmp_path: Path, payload_store: Path):
    corpus = load_corpus(write_corpus(tmp_path / "c.txt", 600))
    flow = Flow.load_config(FLOW_YAML)
    flow.workspace = str(tmp_path / "embedded")
    machine = SimulatedStateMachine(flow.plan, str(tmp_path / "s3"))
    with flow:
        for start in range(0, 600, 100):
            batch = corpus[start : start + 100]
            same(machine.post("/index", DocumentArray(d.copy() for d in batch))[0], flow.post("/index", batch))
        for position in (0, 17, 599):
            query = Document(id=f"q{position}", text=corpus[position].text)
            remote, _ = machine.post("/query", DocumentArray([query.copy()]))
            local = flow.post("/query", query)
            same(remote, local)
            assert remote[0].id == corpus[position].id and remote[0].scores["jaccard"].value == 0
        remote_counts = machine.post("/count", DocumentArray())[1]
        local_counts = flow.post("/count", return_responses=True)[0].parameters["__results__"]
        assert remote_counts == local_counts
        assert sum(c["count"] for key, c in remote_counts.items() if key.startswith("db/shard-")) == 600
        # an endpoint only the featurizer's default method serves
        same(
            machine.post("/other", DocumentArray([Document(id="x", text="a b")]))[0],
            flow.post("/other", Document(id="x", text="a b")),
        )
    assert list(payload_store.rglob("*.json")), "index batches are over the inline limit: they went by reference"
    # one invocation per stage and shard: /query = featurizer + 3 db shards + ranker
    before = machine.invocations
    machine.post("/query", DocumentArray([Document(text="x")]))
    assert machine.invocations - before == 5


@pytest.mark.parametrize(
    ("endpoint", "parameters"), [("/search", {"limit": 4}), ("/search", {}), ("/split", {}), ("/x", {})]
)
def test_dag_with_join_and_sharded_stages_conforms(tmp_path: Path, endpoint: str, parameters: dict):
    flow = dag_flow()
    machine = SimulatedStateMachine(flow.plan, str(tmp_path / "s3"))
    docs = DocumentArray(Document(id=f"d{i}", text=f"t{i}") for i in range(11))
    with flow:
        local = flow.post(endpoint, docs, parameters=parameters)
    remote, _ = machine.post(endpoint, DocumentArray(d.copy() for d in docs), parameters)
    same(remote, local)
    assert len(remote) > 0


def test_executor_error_names_executor_shard_and_endpoint(tmp_path: Path):
    machine = SimulatedStateMachine(dag_flow().plan, str(tmp_path / "s3"))
    with pytest.raises(FlowError) as info:
        machine.post("/boom", DocumentArray([Document(id="a")]))
    assert (info.value.executor, info.value.shard, info.value.endpoint) == ("join", 0, "/boom")
    assert info.value.error_type == "KeyError" and "boom on purpose" in str(info.value)


def test_empty_request_reaches_shard_zero_only(tmp_path: Path):
    class Count(Executor):
        @requests
        def count(self, docs, **kwargs):
            return {"shard": self.runtime_args.shard_id, "n": len(docs)}

    flow = Flow().add(uses=Count, name="c", shards=3)
    machine = SimulatedStateMachine(flow.plan, str(tmp_path / "s3"))
    with flow:
        local = flow.post("/x", return_responses=True)[0].parameters["__results__"]
    assert machine.post("/x", DocumentArray())[1] == local == {"c/shard-0/rep-0": {"shard": 0, "n": 0}}
