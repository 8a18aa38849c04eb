"""A request is all or nothing: every shard checks the whole request (``check_request``)
before any shard stores anything of it, embedded, served over HTTP and through the state
machine's hops, so one bad doc among 40 good ones stores none of them, and an empty shard
refuses the dimension its siblings hold. A storage failure after some shards committed says
which did; ``faasflow index`` counts what was really stored."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from faasflow import BadRequest, Document, DocumentArray, Executor, Flow, FlowError, requests
from faasflow.batch import index_file
from faasflow.compiler.asl import inline_limit
from faasflow.compiler.routes import OTHER_ENDPOINTS
from faasflow.executors.vector_indexer import INDEX_RECORD, VectorIndexer
from faasflow.runtime.hops import stage_error
from faasflow.runtime.payload import encode_docs
from faasflow.sharding import shard_of
from faasflow.storage.base import StorageError
from faasflow.storage.layout import executor_storage, shard_storage
from tests.support.conformance import ExecutorCase, FlowCase, Modes, three_modes
from tests.support.results import per_shard
from tests.support.simulate import SimulatedStateMachine

ROOT = Path(__file__).resolve().parents[2]
DIM = 8
SHARDS = 2
POLLING = {"/count": "ALL", "/search": "ALL", "*": "ANY"}


class BrokenWrites:
    """A storage whose writes fail (a full disk, a denied bucket); reads go through."""

    def __init__(self, storage: Any):
        self._storage = storage

    def __getattr__(self, name: str) -> Any:
        if name.startswith("put"):
            def refuse(key: str, *args: Any) -> str:
                raise StorageError(f"cannot write {key}: no space left on device")
            return refuse
        return getattr(self._storage, name)


class FailingIndexer(VectorIndexer):
    """A VectorIndexer whose shard ``fail_shard`` cannot write its segments."""

    def __init__(self, fail_shard: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        if self.runtime_args.shard_id == fail_shard:
            self.shard_index.log.storage = BrokenWrites(self.shard_index.log.storage)


class Watcher(Executor):
    """Checks what every shard is given to check; refuses a doc whose text is ``bad``."""

    checked: list[tuple[int, list[str]]] = []
    ran: list[int] = []

    def check_request(self, endpoint: str, docs: DocumentArray, parameters: dict[str, Any]) -> None:
        Watcher.checked.append((self.runtime_args.shard_id, list(docs.ids)))
        for doc in docs:
            if doc.text == "bad":
                raise BadRequest("bad is not a word here", doc_id=doc.id, field="text")

    @requests(on="/store")
    def store(self, docs: DocumentArray, **kwargs: Any) -> None:
        Watcher.ran.append(self.runtime_args.shard_id)


@dataclass(frozen=True)
class LocalCase(FlowCase):
    """A FlowCase whose executors are this module's (or VectorIndexer, by module path)."""

    module: str = __name__

    def flow(self, module: str = "", name: str = "all-or-nothing") -> Flow:
        return super().flow(self.module, name)


INDEX = LocalCase((ExecutorCase("idx", "VectorIndexer", shards=SHARDS, polling=POLLING),),
                  module="faasflow.executors")
FAILING = LocalCase((ExecutorCase("idx", "FailingIndexer", shards=SHARDS, polling=POLLING),))
WATCHED = LocalCase((ExecutorCase("w", "Watcher", shards=3, polling="ANY"),))


@pytest.fixture(autouse=True)
def own_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAASFLOW_WORKSPACE", str(tmp_path / "workspace"))


@pytest.fixture
def modes(tmp_path: Path) -> Iterator[Modes]:
    with three_modes(INDEX, tmp_path / "s3") as started:
        yield started


def ids_on(shard: int, count: int, prefix: str) -> list[str]:
    """``count`` ids that ANY polling sends to ``shard``."""
    found: list[str] = []
    number = 0
    while len(found) < count:
        if shard_of(candidate := f"{prefix}{number}", SHARDS) == shard:
            found.append(candidate)
        number += 1
    return found


def vectors(ids: list[str], dim: int = DIM, seed: int = 0) -> DocumentArray:
    rng = np.random.default_rng(seed)
    return DocumentArray(Document(id=i, text=f"doc {i}", embedding=rng.standard_normal(dim).astype(np.float32))
                         for i in ids)


def forty_good_one_bad() -> DocumentArray:
    """20 good docs for each shard, and one without an embedding (on shard 1) in the middle."""
    docs = vectors(ids_on(0, 20, "a") + ids_on(1, 20, "b"))
    docs._docs.insert(25, Document(id=ids_on(1, 1, "bad")[0], text="no embedding"))
    assert {shard_of(d.id, SHARDS) for d in docs[:20]} == {0} and len(docs) == 41
    return docs


BAD_ID = ids_on(1, 1, "bad")[0]


def counts(poster: Any) -> list[int]:
    [response] = poster.post("/count", return_responses=True)
    return [c["count"] for c in per_shard(response.parameters["__results__"], "idx")]


def machine_counts(machine: SimulatedStateMachine) -> list[int]:
    _, results = machine.post("/count", DocumentArray())
    return [c["count"] for c in per_shard(results, "idx")]


def shard_envelopes(machine: SimulatedStateMachine, endpoint: str, docs: DocumentArray,
                    parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every shard of the route's first stage run on the request, as the state machine's
    Parallel state runs them: each on its own, none knowing what the others did."""
    route = machine.routes.get(endpoint) or machine.routes[OTHER_ENDPOINTS]
    stage = route.stages[0]
    limit = inline_limit(route)
    event = {"request": {"endpoint": endpoint, "parameters": parameters or {}, "request_id": "r-1"},
             "input": json.dumps(stage.input), "mode": stage.mode, "inline_limit": limit,
             "values": {"gateway": {"value": {"docs": encode_docs(docs, "r-1/gateway", limit)}}}}
    runtimes = [machine.runtimes[(stage.spec.name, shard)] for shard in range(stage.spec.shards)]
    return [json.loads(json.dumps(runtime.handle({**event, "shard": shard})))
            for shard, runtime in enumerate(runtimes)]


# --- one bad doc among 40 good ones: refused, nothing stored ---


def test_embedded_refuses_the_whole_request_and_stores_nothing(modes: Modes) -> None:
    with pytest.raises(FlowError) as caught:
        modes.embedded.post("/index", forty_good_one_bad())
    error = caught.value
    assert error.bad_request and (error.executor, error.doc_id, error.field) == ("idx", BAD_ID, "embedding")
    assert "has no embedding" in str(error.cause)
    assert error.committed_shards is None and error.failed_shards is None  # a refusal: nothing committed
    assert counts(modes.embedded) == [0, 0]
    modes.embedded.post("/index", vectors(ids_on(0, 3, "ok")))  # the index still takes good requests
    assert counts(modes.embedded) == [3, 0]


def test_served_answers_422_naming_the_doc_and_stores_nothing(modes: Modes) -> None:
    from faasflow.codec import docs_to_list, to_plain

    body = {"data": to_plain(docs_to_list(forty_good_one_bad()))}
    with httpx.Client(base_url=modes.client.url, timeout=30, trust_env=False) as http:
        answer = http.post("/index", json=body)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert (error["reason"], error["executor"], error["doc_id"], error["field"]) == (
            "bad_request", "idx", BAD_ID, "embedding")
        counted = per_shard(http.post("/count", json={"data": []}).json()["parameters"]["__results__"], "idx")
    assert [c["count"] for c in counted] == [0, 0]
    assert counts(modes.client) == [0, 0]


def test_the_state_machine_refuses_on_every_shard_and_stores_nothing(modes: Modes) -> None:
    machine = modes.machine
    with pytest.raises(FlowError) as caught:
        machine.post("/index", forty_good_one_bad())
    assert caught.value.bad_request and caught.value.doc_id == BAD_ID
    # on AWS the shards run side by side: each one refuses on its own, shard 0 (only good docs) too
    envelopes = shard_envelopes(machine, "/index", forty_good_one_bad())
    for shard, envelope in enumerate(envelopes):
        assert "docs" not in envelope, shard
        assert envelope["error"]["doc_id"] == BAD_ID and envelope["error"]["bad_request"], shard
    assert stage_error(envelopes) == envelopes[0]["error"]  # a refusal: no shard lists
    assert machine_counts(machine) == [0, 0]


def test_every_mode_gives_the_same_refusal(modes: Modes) -> None:
    errors = []
    for post in (lambda d: modes.embedded.post("/index", d), lambda d: modes.client.post("/index", d),
                 lambda d: modes.machine.post("/index", d)):
        with pytest.raises(FlowError) as caught:
            post(forty_good_one_bad())
        errors.append(caught.value.to_dict())
    assert errors[0] == errors[1] == errors[2]
    assert errors[0]["shard"] == 0  # shard 0 got only good docs, and refused: it checked the whole request


@pytest.mark.parametrize("endpoint", ["/update", "/search"])
def test_update_and_search_refuse_on_every_shard_too(modes: Modes, endpoint: str) -> None:
    modes.embedded.post("/index", vectors(ids_on(0, 20, "a") + ids_on(1, 20, "b")))
    before = counts(modes.embedded)
    with pytest.raises(FlowError) as caught:
        modes.embedded.post(endpoint, forty_good_one_bad())
    assert caught.value.bad_request and caught.value.doc_id == BAD_ID
    assert counts(modes.embedded) == before == [20, 20]
    envelopes = shard_envelopes(modes.machine, endpoint, forty_good_one_bad())
    assert all(e["error"]["doc_id"] == BAD_ID for e in envelopes)


def test_a_bad_search_parameter_is_refused_before_any_shard_searches(modes: Modes) -> None:
    envelopes = shard_envelopes(modes.machine, "/search", vectors(["q"]), {"limit": -1})
    assert [e["error"]["field"] for e in envelopes] == ["limit", "limit"]


# --- the dimension is the index's, not one shard's ---


def test_an_empty_shard_refuses_the_dimension_its_sibling_holds(modes: Modes) -> None:
    first = vectors(ids_on(0, 1, "first"), dim=3)
    modes.embedded.post("/index", first)
    modes.machine.post("/index", first)
    other = vectors(ids_on(0, 3, "x") + ids_on(1, 3, "y"), dim=4)
    for post, count in ((modes.embedded.post, lambda: counts(modes.embedded)),
                        (modes.client.post, lambda: counts(modes.client)),
                        (modes.machine.post, lambda: machine_counts(modes.machine))):
        with pytest.raises(FlowError) as caught:
            post("/index", other)
        assert caught.value.bad_request and caught.value.field == "embedding"
        assert "4 dimensions; this index holds 3-dimensional" in str(caught.value.cause)
        assert count() == [1, 0]
    # shard 1 holds nothing, and refuses on its own as well
    envelopes = shard_envelopes(modes.machine, "/index", vectors(ids_on(1, 2, "z"), dim=4))
    assert envelopes[0].get("skipped") and "3-dimensional" in envelopes[1]["error"]["message"]


def test_the_first_write_records_the_dimension_beside_the_shards(tmp_path: Path) -> None:
    flow = Flow(workspace=str(tmp_path)).add(uses=VectorIndexer, name="idx", shards=SHARDS, polling=POLLING)
    with flow:
        flow.post("/index", vectors(ids_on(1, 2, "a"), dim=5))
    record = tmp_path / "idx" / INDEX_RECORD
    assert json.loads(record.read_text()) == {"dim": 5}


def test_an_index_written_before_the_record_takes_its_dimension_from_the_shards(tmp_path: Path) -> None:
    """An index without the record: a shard's manifest tells the dimension, which is
    recorded then, so an empty shard refuses another one even when it alone is asked."""
    flow = Flow(workspace=str(tmp_path)).add(uses=VectorIndexer, name="idx", shards=SHARDS, polling=POLLING)
    with flow:
        flow.post("/index", vectors(ids_on(0, 2, "a"), dim=3))
    record = tmp_path / "idx" / INDEX_RECORD
    record.unlink()  # as an index written before the record existed
    with flow:
        with pytest.raises(FlowError) as caught:
            flow.post("/index", vectors(ids_on(1, 2, "b"), dim=4))  # only the empty shard 1 runs
        assert caught.value.shard == 1 and "3-dimensional" in str(caught.value.cause)
        assert counts(flow) == [2, 0]
    assert json.loads(record.read_text()) == {"dim": 3}


@pytest.mark.parametrize("storage_url", [False, True])
def test_the_shard_layout_is_the_executors_own(tmp_path: Path, storage_url: bool) -> None:
    runtime_args: dict[str, Any] = {"name": "idx", "shard_id": 1, "shards": 2}
    if storage_url:
        runtime_args["storage_url"] = str(tmp_path / "bucket")
    indexer = VectorIndexer(workspace=str(tmp_path / "ws"), runtime_args=runtime_args)
    assert shard_storage(indexer.runtime_args, 1).url == indexer.storage.url
    assert indexer.storage.url.startswith(executor_storage(indexer.runtime_args).url)


# --- the mechanism: every shard checks the whole request first ---


@pytest.mark.parametrize("mode", ["embedded", "simulated"])
def test_every_running_shard_checks_the_whole_request_before_any_runs(tmp_path: Path, mode: str) -> None:
    docs = DocumentArray(Document(id=f"d{i}", text="fine") for i in range(12))
    with three_modes(WATCHED, tmp_path / "s3") as started:
        post = started.embedded.post if mode == "embedded" else started.machine.post
        Watcher.checked, Watcher.ran = [], []
        post("/store", docs)
        assert sorted(shard for shard, _ in Watcher.checked) == sorted(Watcher.ran) == [0, 1, 2]
        assert all(ids == docs.ids for _, ids in Watcher.checked)
        Watcher.checked, Watcher.ran = [], []
        docs[7].text = "bad"
        with pytest.raises(FlowError) as caught:
            post("/store", docs)
        assert caught.value.bad_request and caught.value.doc_id == "d7"
        assert Watcher.ran == []  # no shard ran its endpoint


# --- a storage failure after some shards committed ---


@pytest.fixture
def failing(tmp_path: Path) -> Iterator[Modes]:
    with three_modes(FAILING, tmp_path / "s3") as started:
        yield started


def both_shards() -> DocumentArray:
    return vectors(ids_on(0, 4, "a") + ids_on(1, 3, "b"))


def test_embedded_says_which_shards_committed(failing: Modes) -> None:
    with pytest.raises(FlowError) as caught:
        failing.embedded.post("/index", both_shards())
    error = caught.value
    assert not error.bad_request and (error.shard, error.error_type) == (1, "StorageError")
    assert (error.committed_shards, error.failed_shards) == ([0], [1])
    assert error.to_dict()["committed_shards"] == [0] and error.to_dict()["failed_shards"] == [1]
    assert counts(failing.embedded) == [4, 0]


def test_served_500_says_which_shards_committed(failing: Modes) -> None:
    from faasflow.codec import docs_to_list, to_plain

    with httpx.Client(base_url=failing.client.url, timeout=30, trust_env=False) as http:
        answer = http.post("/index", json={"data": to_plain(docs_to_list(both_shards()))})
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert (error["reason"], error["type"], error["committed_shards"], error["failed_shards"]) == (
        "executor_failed", "StorageError", [0], [1])
    with pytest.raises(FlowError) as caught:
        failing.client.post("/index", both_shards())
    assert (caught.value.committed_shards, caught.value.failed_shards) == ([0], [1])


def test_the_hops_envelopes_say_which_shards_committed(failing: Modes) -> None:
    envelopes = shard_envelopes(failing.machine, "/index", both_shards())
    assert "docs" in envelopes[0] and envelopes[1]["error"]["type"] == "StorageError"
    error = stage_error(envelopes)
    assert error is not None and (error["shard"], error["committed_shards"], error["failed_shards"]) == (1, [0], [1])
    assert FlowError.from_dict(dict(error)).committed_shards == [0]
    assert machine_counts(failing.machine) == [4, 0]


def test_the_gateway_function_says_which_shards_committed(failing: Modes) -> None:
    """Through the state machine as the ASL runs it: every shard's envelope reaches the
    gateway function with the error, which answers the 500 the served gateway does."""
    from faasflow.codec import docs_to_list, to_plain
    from faasflow.compiler.decide import gateway_config
    from faasflow.runtime.gateway import StepFunctionsBackend
    from faasflow.serve import serve_app_in_background
    from faasflow.serve.app import create_app
    from tests.support.simulate import SimulatedStepFunctions

    with pytest.raises(FlowError) as simulated:
        failing.machine.post("/index", both_shards())
    assert (simulated.value.committed_shards, simulated.value.failed_shards) == ([0], [1])
    backend = StepFunctionsBackend("arn:aws:states:::stateMachine:failing", gateway_config(failing.embedded.plan),
                                   client=SimulatedStepFunctions(failing.machine))
    server = serve_app_in_background(create_app(backend), port=0)
    try:
        answer = httpx.post(f"{server.url}/index", json={"data": to_plain(docs_to_list(both_shards()))}, timeout=30,
                            trust_env=False)
    finally:
        server.stop()
    error = answer.json()["error"]
    assert answer.status_code == 500 and (error["shard"], error["committed_shards"], error["failed_shards"]) == (
        1, [0], [1])


# --- faasflow index counts what was stored ---


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_split_sent_as_several_requests_counts_those_that_stored(tmp_path: Path) -> None:
    """Three lines make one split; with batch size 2 it goes as two requests: the first
    stores 2 docs, the second (a doc without an embedding) fails. Counted before as 0."""
    rows = [{"id": "a", "embedding": [1, 0, 0]}, {"id": "b", "embedding": [0, 1, 0]}, {"id": "c"}]
    path = write_jsonl(tmp_path / "docs.jsonl", rows)
    flow = Flow(workspace=str(tmp_path / "ws")).add(uses=VectorIndexer, name="idx", shards=SHARDS, polling=POLLING)
    with flow:
        summary = index_file(flow, str(path), batch_size=2)
        assert sum(counts(flow)) == 2
    assert (summary["lines"], summary["docs_indexed"], summary["docs_failed"]) == (3, 2, 1)
    [failure] = summary["failed_splits"]
    assert failure["split"] == 0 and failure["docs"] == 1 and "document 'c'" in failure["error"]
    assert "committed_shards" not in failure  # a refusal stores nothing


def test_a_storage_failure_in_a_batch_names_the_shards_that_stored(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "docs.jsonl", [{"id": d.id, "embedding": d.embedding.tolist()}
                                                 for d in both_shards()])
    flow = Flow(workspace=str(tmp_path / "ws")).add(uses=FailingIndexer, name="idx", shards=SHARDS, polling=POLLING)
    with flow:
        summary = index_file(flow, str(path), batch_size=100)
        assert counts(flow) == [4, 0]
    assert (summary["docs_indexed"], summary["docs_failed"]) == (0, 7)
    [failure] = summary["failed_splits"]
    assert (failure["executor"], failure["committed_shards"], failure["docs"]) == ("idx", [0], 7)
    assert "StorageError" in failure["error"]


def test_the_index_command_prints_what_was_stored(tmp_path: Path) -> None:
    rows = [{"id": "a", "embedding": [1, 0, 0]}, {"id": "b", "embedding": [0, 1, 0]}, {"id": "c"}]
    path = write_jsonl(tmp_path / "docs.jsonl", rows)
    flow_file = tmp_path / "flow.yml"
    flow_file.write_text("jtype: Flow\nexecutors:\n  - name: idx\n    uses: faasflow.executors.VectorIndexer\n"
                         "    shards: 2\n")
    done = subprocess.run([sys.executable, "-m", "faasflow", "index", str(path), str(flow_file), "--batch-size", "2",
                           "--workspace", str(tmp_path / "ws")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "2 docs indexed from 3 lines" in done.stdout
    assert "1 docs not indexed: 1 requests failed" in done.stdout
    assert "split 0: 1 docs failed: FlowError" in done.stdout


# --- faasflow serve: the gateway's limits on the command line ---


@pytest.mark.parametrize(("flag", "value"), [("--body-timeout-s", "0"), ("--body-timeout-s", "-1"),
                                             ("--body-timeout-s", "soon"), ("--body-timeout-s", "inf"),
                                             ("--max-response-bytes", "0"), ("--max-response-bytes", "1.5")])
def test_serve_refuses_nonsense_limits(flag: str, value: str) -> None:
    done = subprocess.run([sys.executable, "-m", "faasflow", "serve", "orchestrator/flow.yml", flag, value],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith(f"faasflow serve: error: argument {flag}: "), done.stderr


def test_serve_passes_the_limits_to_the_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import faasflow.serve
    from faasflow.cli import main

    made: dict[str, Any] = {}
    monkeypatch.setattr(faasflow.serve, "create_app", lambda backend, **options: made.update(options))
    monkeypatch.setattr(faasflow.serve, "run_server", lambda *args, **kwargs: None)
    flow_file = tmp_path / "flow.yml"
    flow_file.write_text("jtype: Flow\nexecutors:\n  - name: idx\n    uses: faasflow.executors.VectorIndexer\n")
    assert main(["serve", str(flow_file), "--workspace", str(tmp_path / "ws"), "--body-timeout-s", "2.5",
                 "--max-response-bytes", "1000"]) == 0
    assert (made["body_timeout_s"], made["max_response_bytes"]) == (2.5, 1000)
    made.clear()
    assert main(["serve", str(flow_file), "--workspace", str(tmp_path / "ws")]) == 0
    assert (made["body_timeout_s"], made["max_response_bytes"]) == (30.0, 64 * 1024 * 1024)
