"""Flows: chains, DAG joins, shards with ANY/ALL polling and their merge, YAML, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faasflow import (
    BadInputError,
    Document,
    DocumentArray,
    Executor,
    FaasflowError,
    Flow,
    FlowConfigError,
    FlowError,
    UnknownEndpointError,
    requests,
)
from faasflow.sharding import shard_of
from tests.support.executors import Append  # noqa: E402  (also named in YAML below)
from tests.support.results import per_shard


class ShardTagger(Executor):
    @requests
    def run(self, docs, **kwargs):
        for d in docs:
            d.tags.setdefault("shards", []).append(self.runtime_args.shard_id)


class Store(Executor):
    """Keeps docs; /search returns each query doc with matches from this shard, scored by
    the absolute difference of tag 'x' (a distance)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.docs = DocumentArray()

    @requests(on="/index")
    def index(self, docs, **kwargs):
        self.docs.extend(docs)

    @requests(on="/search")
    def search(self, docs, parameters, **kwargs):
        for query in docs:
            hits = []
            for stored in self.docs:
                hit = stored.copy()
                hit.scores["dist"] = abs(stored.tags["x"] - query.tags["x"])
                hits.append(hit)
            hits.sort(key=lambda d: d.scores["dist"].value)
            query.matches = hits[: parameters.get("per_shard", 3)]

    @requests(on="/count")
    def count(self, **kwargs):
        return {"count": len(self.docs), "shard": self.runtime_args.shard_id}


class Fails(Executor):
    @requests
    def run(self, docs, **kwargs):
        if any(d.tags.get("boom") for d in docs):
            raise RuntimeError("boom requested")


def texts(docs):
    return [d.text for d in docs]


# --- topology ---


def test_chain_runs_in_order_and_keeps_input_order():
    flow = Flow().add(uses=Append, name="a").add(uses=Append, name="b")
    with flow:
        out = flow.post("/x", [Document(id=str(i), text=str(i)) for i in range(5)])
    assert texts(out) == [f"{i}[a][b]" for i in range(5)]


def test_post_does_not_change_the_callers_documents():
    doc = Document(text="mine")
    with Flow().add(uses=Append, name="a") as flow:
        out = flow.post("/x", doc)
    assert doc.text == "mine" and out[0].text == "mine[a]"


def test_needs_join_merges_branches_by_id():
    flow = (
        Flow()
        .add(uses=Append, name="start")
        .add(uses=Append, name="left", needs="start")
        .add(uses=Append, name="right", needs="start")
        .add(uses=Append, name="join", needs=["left", "right"])
    )
    assert flow.plan.sinks == ("join",)
    with flow:
        out = flow.post("/x", [Document(id="1", text=""), Document(id="2", text="")])
    # the join reduces by id: one doc per id, the first branch's fields win, then 'join' runs
    assert out.ids == ["1", "2"]
    assert texts(out) == ["[start][left][join]", "[start][left][join]"]


def test_join_sees_docs_matrix():
    class Joiner(Executor):
        @requests
        def run(self, docs, docs_matrix, docs_map, **kwargs):
            for d in docs:
                d.tags["inputs"] = [dm[0].text for dm in docs_matrix]
                d.tags["names"] = sorted(docs_map)

    flow = (
        Flow()
        .add(uses=Append, name="l", needs="gateway")
        .add(uses=Append, name="r", needs="gateway")
        .add(uses=Joiner, name="j", needs=["l", "r"])
    )
    with flow:
        out = flow.post("/x", Document(id="1", text=""))
    assert out[0].tags["inputs"] == ["[l]", "[r]"]
    assert out[0].tags["names"] == ["l", "r"]


def test_branches_do_not_see_each_others_in_place_edits():
    flow = Flow().add(uses=Append, name="l", needs="gateway").add(uses=Append, name="r", needs="gateway")
    assert flow.plan.sinks == ("l", "r")
    with flow:
        out = flow.post("/x", Document(id="1", text=""))
    assert texts(out) == ["[l]"]  # merged by id; 'r' edited its own copy


def test_executor_without_method_for_endpoint_passes_docs_through():
    class OnlyIndex(Executor):
        @requests(on="/index")
        def index(self, docs, **kwargs):
            for d in docs:
                d.text = "indexed"

    flow = Flow().add(uses=OnlyIndex).add(uses=Append, name="tail")
    with flow:
        assert texts(flow.post("/other", Document(text="q"))) == ["q[tail]"]


# --- shards ---


def test_any_partitions_by_stable_id_hash_each_doc_once():
    docs = [Document(id=f"doc-{i}") for i in range(60)]
    with Flow().add(uses=ShardTagger, shards=3) as flow:
        out = flow.post("/x", docs, request_size=7)
    assert out.ids == [d.id for d in docs]
    for d in out:
        assert d.tags["shards"] == [shard_of(d.id, 3)]
    assert len({d.tags["shards"][0] for d in out}) == 3


def test_shard_of_is_crc32_modulo():
    import zlib

    assert shard_of("abc", 5) == zlib.crc32(b"abc") % 5


def test_any_reindexing_an_id_updates_the_same_shard():
    class Upsert(Store):
        @requests(on="/index")
        def index(self, docs, **kwargs):
            for d in docs:
                if d.id in self.docs:
                    self.docs[d.id] = d
                else:
                    self.docs.append(d)

    flow = Flow().add(uses=Upsert, name="db", shards=4, polling={"/count": "ALL"})
    with flow:
        docs = [Document(id=f"k{i}", tags={"x": i}) for i in range(40)]
        flow.post("/index", docs)
        flow.post("/index", docs[:10])
        counts = per_shard(flow.post("/count", return_responses=True)[0].parameters["__results__"], "db")
    assert sum(c["count"] for c in counts) == 40


def test_all_broadcasts_and_merges_matches_sorted_and_cut_to_limit():
    flow = Flow().add(uses=Store, name="db", shards=3, polling={"/search": "ALL", "/index": "ANY"})
    stored = [Document(id=f"s{i}", tags={"x": i}) for i in range(30)]
    with flow:
        flow.post("/index", stored)
        out = flow.post("/search", Document(id="q", tags={"x": 10.2}), parameters={"limit": 4, "per_shard": 3})
    assert out.ids == ["q"]
    matches = out[0].matches
    assert [m.id for m in matches] == ["s10", "s11", "s9", "s12"]
    values = [m.scores["dist"].value for m in matches]
    assert values == sorted(values)


def test_all_without_limit_keeps_every_shards_matches_sorted():
    flow = Flow().add(uses=Store, name="db", shards=3, polling={"/search": "ALL"})
    with flow:
        flow.post("/index", [Document(id=f"s{i}", tags={"x": i}) for i in range(30)])
        out = flow.post("/search", Document(id="q", tags={"x": 0}), parameters={"per_shard": 2})
    values = [m.scores["dist"].value for m in out[0].matches]
    assert len(values) == 6 and values == sorted(values)


def test_all_merges_new_ids_in_shard_order():
    class Answers(Executor):
        @requests
        def run(self, docs, **kwargs):
            return DocumentArray([Document(id=f"from-{self.runtime_args.shard_id}")])

    with Flow().add(uses=Answers, shards=3, polling="ALL") as flow:
        assert flow.post("/x", Document()).ids == ["from-0", "from-1", "from-2"]


def test_all_dict_results_per_shard():
    with Flow().add(uses=Store, name="db", shards=2, polling="all") as flow:
        flow.post("/index", [Document(id=str(i), tags={"x": i}) for i in range(5)])
        results = per_shard(flow.post("/count", return_responses=True)[0].parameters["__results__"], "db")
    assert [r["shard"] for r in results] == [0, 1]
    # a string polling sets every endpoint but /index (ANY) and /search (ALL), as in Jina:
    # /index partitioned the 5 docs, /count asked every shard
    assert sum(r["count"] for r in results) == 5


def test_empty_request_reaches_one_shard_with_any():
    with Flow().add(uses=Store, name="db", shards=3) as flow:
        results = flow.post("/count", return_responses=True)[0].parameters["__results__"]
    assert list(results) == ["db/shard-0/rep-0"]  # Jina's runtime name; the shards not called return nothing


def test_heavy_shards_run_in_parallel():
    import threading
    import time

    barrier = threading.Barrier(3, timeout=5)

    class Waits(Executor):
        @requests
        def run(self, docs, **kwargs):
            barrier.wait()  # only passes if all three shards run at the same time
            time.sleep(0.01)

    with Flow().add(uses=Waits, shards=3, polling="ALL") as flow:
        assert len(flow.post("/x", Document())) == 1


def test_executor_specific_parameters():
    class Reads(Executor):
        @requests
        def run(self, docs, parameters, **kwargs):
            docs[0].tags[self.runtime_args.name] = parameters.get("k")

    flow = Flow().add(uses=Reads, name="a").add(uses=Reads, name="b")
    with flow:
        out = flow.post("/x", Document(), parameters={"k": 1, "b": {"k": 2}})
    assert out[0].tags == {"a": 1, "b": 2}


# --- post: inputs, batching, callbacks ---


def test_post_accepts_document_array_iterable_generator_and_function():
    with Flow().add(uses=Append, name="a") as flow:
        assert len(flow.post("/x", Document())) == 1
        assert len(flow.post("/x", DocumentArray([Document(), Document()]))) == 2
        assert len(flow.post("/x", (Document() for _ in range(250)), request_size=100)) == 250
        assert len(flow.post("/x", lambda: iter([Document()]))) == 1
        assert len(flow.post("/x")) == 0


def test_post_batches_by_request_size_and_calls_on_done_per_batch():
    sizes = []
    with Flow().add(uses=Append, name="a") as flow:
        out = flow.post(
            "/x",
            [Document(id=str(i)) for i in range(250)],
            request_size=100,
            on_done=lambda r: sizes.append(len(r.docs)),
        )
    assert sizes == [100, 100, 50]
    assert out is None  # with on_done, post returns nothing, as in Jina 3


def test_on_error_gets_failed_batches_and_others_go_on():
    errors, always, done = [], [], []
    docs = [Document(id=str(i), tags={"boom": i == 5}) for i in range(30)]
    with Flow().add(uses=Fails, name="fragile", shards=2) as flow:
        out = flow.post(
            "/work", docs, request_size=10, on_error=errors.append, on_done=done.append, on_always=always.append
        )
    assert len(errors) == 1 and len(done) == 2 and len(always) == 3
    error = errors[0]
    assert error.header.status.code == 3
    assert error.header.status.exception.name == "RuntimeError"
    assert error.error.executor == "fragile" and error.error.endpoint == "/work"
    assert error.error.shard == shard_of("5", 2)
    assert "fragile" in error.header.status.description and "/work" in error.header.status.description
    assert out is None  # with on_done/on_always, post returns nothing, as in Jina 3


def test_executor_error_is_raised_as_flow_error_without_on_error():
    with Flow().add(uses=Fails, name="fragile") as flow:
        with pytest.raises(FlowError) as info:
            flow.post("/work", Document(tags={"boom": True}))
    err = info.value
    assert (err.executor, err.shard, err.endpoint) == ("fragile", 0, "/work")
    assert "boom requested" in str(err) and isinstance(err.cause, RuntimeError)


def test_inputs_that_are_not_documents():
    with Flow().add(uses=Append, name="a") as flow:
        with pytest.raises(BadInputError, match="input 1 is a str"):
            flow.post("/x", [Document(), "text"])
        with pytest.raises(BadInputError, match="not str"):
            flow.post("/x", "just a string")
        with pytest.raises(BadInputError, match="request_size"):
            flow.post("/x", Document(), request_size="10")  # <= 0 is Jina's "all in one request"


def test_unknown_endpoint_lists_served_ones():
    with Flow().add(uses=Store, name="db") as flow:
        with pytest.raises(UnknownEndpointError) as info:
            flow.post("/nope", Document())
    assert "'/nope'" in str(info.value)
    assert info.value.served == ["/count", "/index", "/search"]


def test_endpoints_asked_for_are_remembered_within_a_bound():
    from faasflow.plan import MAX_REMEMBERED_ENDPOINTS

    with Flow().add(uses=Store, name="db") as flow:
        for number in range(MAX_REMEMBERED_ENDPOINTS + 50):  # callers choose the names
            with pytest.raises(UnknownEndpointError):
                flow.post(f"/nope-{number}", Document())
        assert len(flow.plan._served) == MAX_REMEMBERED_ENDPOINTS
        assert flow.post("/count", Document()) is not None  # answers stay right past the bound
        with pytest.raises(UnknownEndpointError):
            flow.post("/nope-0", Document())


def test_post_before_start_is_a_clear_error():
    with pytest.raises(FaasflowError, match="not started"):
        Flow().add(uses=Append).post("/x", Document())


# --- configuration errors ---


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Flow().add(uses="no.such.module.Exec"), r"executor 'executor0', field 'uses': cannot find"),
        (lambda: Flow().add(uses="NoSuchExecutorAnywhere", name="x"), r"executor 'x', field 'uses'"),
        (lambda: Flow().add(uses=int, name="x"), r"field 'uses': int is not an Executor"),
        (lambda: Flow().add(uses=Append, name="x", polling="SOME"), r"executor 'x', field 'polling'"),
        (lambda: Flow().add(uses=Append, name="x", polling={"/a": "ANY", "b": "ALL"}), r"field 'polling'"),
        (lambda: Flow().add(uses=Append, name="x", shards=0), r"executor 'x', field 'shards'"),
        (lambda: Flow().add(uses=Append, name="x", replicas=-1), r"field 'replicas'"),
        (lambda: Flow().add(uses=Append, name="x", memory=64), r"field 'memory'"),
        (lambda: Flow().add(uses=Append, name="x", package="rpm"), r"field 'package'"),
        (
            lambda: Flow().add(uses=Append, name="x", needs="ghost"),
            r"executor 'x', field 'needs': needs unknown executor 'ghost'",
        ),
        (lambda: Flow().add(uses=Append, name="a").add(uses=Append, name="a"), r"executor 'a', field 'name'"),
        (
            lambda: Flow().add(uses=Append, name="a", needs="b").add(uses=Append, name="b", needs="a"),
            r"cycle: a -> b -> a|cycle: b -> a -> b",
        ),
        (lambda: Flow().add(uses=Append, name="x", uses_with="nope"), r"field 'uses_with'"),
    ],
)
def test_configuration_errors_name_executor_and_field(build, match):
    with pytest.raises(FlowConfigError, match=match):
        build().build()


def test_unknown_add_option_is_named():
    with pytest.raises(FlowConfigError, match="field 'shard'"):
        Flow().add(uses=Append, name="x", shard=2)


def test_uses_with_rejected_by_init_names_executor():
    with pytest.raises(FlowConfigError, match=r"executor 'a', field 'uses_with'"):
        with Flow().add(uses=Append, name="a", uses_with={"nope": 1}):
            pass


def test_jina_only_options_are_accepted():
    flow = Flow().add(uses=Append, name="a", timeout_ready=-1, env={"X": "1"}, install_requirements=True)
    with flow:
        assert flow.post("/x", Document(text=""))[0].text == "[a]"


def test_add_returns_a_new_flow_like_jina():
    base = Flow()
    extended = base.add(uses=Append, name="a")
    assert base.executors == [] and len(extended.executors) == 1


# --- uses resolution and YAML ---


EXEC_FILE = """
from faasflow import Executor, requests

class FileExec(Executor):
    @requests
    def run(self, docs, **kwargs):
        for d in docs:
            d.text = "from file"
"""


def test_uses_module_path_and_file_path(tmp_path: Path):
    (tmp_path / "my_exec.py").write_text(EXEC_FILE)
    flow = (
        Flow().add(uses=f"{tmp_path / 'my_exec.py'}:FileExec", name="f").add(uses="functions.ranker.Ranker", name="r")
    )
    with flow:
        assert flow.post("/x", Document())[0].text == "from file"


def test_yaml_round_trip(tmp_path: Path):
    (tmp_path / "execs.py").write_text(EXEC_FILE)
    yaml_text = """
jtype: Flow
version: '1'
with:
  name: round
executors:
  - name: file
    uses: FileExec
    py_modules: [execs.py]
  - name: db
    uses: tests.flow.test_flow.Store
    shards: 2
    polling: {/search: ALL, '*': ANY}
  - name: tail
    uses: tests.flow.test_flow.Append
    needs: [db]
    uses_with: {}
"""
    path = tmp_path / "flow.yml"
    path.write_text(yaml_text)
    flow = Flow.load_config(path)
    plan = flow.plan
    assert [s.name for s in plan.executors] == ["file", "db", "tail"]
    assert plan.executor("db").shards == 2
    assert plan.executor("db").polling.mode("/search") == "ALL"
    assert plan.executor("db").polling.mode("/index") == "ANY"
    saved = tmp_path / "saved.yml"
    flow.save_config(saved)
    again = Flow.load_config(saved)
    assert again.to_dict() == flow.to_dict()
    with again:
        assert again.post("/x", Document(text="")).texts == ["from file[tail]"]


def test_yaml_uses_block_with_jtype_and_with(tmp_path: Path):
    (tmp_path / "execs.py").write_text(EXEC_FILE)
    path = tmp_path / "flow.yml"
    path.write_text("""
jtype: Flow
executors:
  - name: greeter
    uses:
      jtype: WithInit
      with: {greeting: hey}
      metas: {py_modules: [greet.py]}
""")
    (tmp_path / "greet.py").write_text("""
from faasflow import Executor, requests
class WithInit(Executor):
    def __init__(self, greeting, **kwargs):
        super().__init__(**kwargs)
        self.greeting = greeting
    @requests
    def run(self, docs, **kwargs):
        docs[0].text = self.greeting
""")
    with Flow.load_config(path) as flow:
        assert flow.post("/x", Document()).texts == ["hey"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("jtype: Deployment\nexecutors: []", "jtype"),
        (
            "jtype: Flow\nexecutors:\n  - name: a\n    uses: functions.ranker.Ranker\n    shardz: 2",
            r"executor 'a', field 'shardz'",
        ),
        ("jtype: Flow\nwith: {colour: red}\nexecutors: []", "field 'colour'"),
        ("jtype: Flow\nexecutors: {a: 1}", "'executors' must be a list"),
        ("[unclosed", "does not parse"),
    ],
)
def test_yaml_errors_name_the_field(tmp_path: Path, text: str, match: str):
    path = tmp_path / "flow.yml"
    path.write_text(text)
    with pytest.raises(FlowConfigError, match=match):
        Flow.load_config(path).build()


def test_missing_yaml_file():
    with pytest.raises(FlowConfigError, match="no such Flow file"):
        Flow.load_config("does/not/exist.yml")


def test_embeddings_survive_the_flow_unchanged():
    class Embed(Executor):
        @requests
        def run(self, docs, **kwargs):
            docs.embeddings = np.arange(len(docs) * 4, dtype=np.float32).reshape(len(docs), 4)

    with Flow().add(uses=Embed, shards=2) as flow:
        out = flow.post("/x", [Document(id=str(i)) for i in range(6)])
    assert out.embeddings.shape == (6, 4)
