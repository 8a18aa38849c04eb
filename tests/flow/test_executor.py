"""Executors: endpoint binding, call arguments, return semantics, sync and async, runtime."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from faasflow import Document, DocumentArray, Executor, Flow, FlowError, requests
from faasflow.executor import DEFAULT_ENDPOINT


class Binder(Executor):
    @requests
    def default(self, docs, **kwargs):
        for d in docs:
            d.tags["by"] = "default"

    @requests(on="/a")
    def on_a(self, docs, **kwargs):
        for d in docs:
            d.tags["by"] = "a"

    @requests(on=["/b", "/c"])
    def on_bc(self, docs, parameters, **kwargs):
        for d in docs:
            d.tags["by"] = "bc"
            d.tags["p"] = parameters.get("p")


class Returns(Executor):
    @requests(on="/none")
    def none(self, docs, **kwargs):
        docs[0].text = "changed in place"

    @requests(on="/replace")
    def replace(self, docs, **kwargs):
        return DocumentArray([Document(id="new", text="replacement")])

    @requests(on="/list")
    def as_list(self, docs, **kwargs):
        return [Document(id="from-list")]

    @requests(on="/dict")
    def as_dict(self, docs, **kwargs):
        return {"seen": len(docs)}

    @requests(on="/bad")
    def bad(self, docs, **kwargs):
        return 42


class AsyncExec(Executor):
    @requests(on="/async")
    async def run(self, docs, **kwargs):
        await asyncio.sleep(0)
        for d in docs:
            d.text = (d.text or "") + "!"


class WithInit(Executor):
    def __init__(self, greeting: str = "hi", *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.greeting = greeting

    @requests
    def greet(self, docs, **kwargs):
        for d in docs:
            d.text = f"{self.greeting} {self.runtime_args.name} shard {self.runtime_args.shard_id}"


class NoSuperInit(Executor):
    def __init__(self, value: int):
        self.value = value

    @requests
    def run(self, docs, **kwargs):
        docs[0].tags["value"] = self.value


class OnlyDocs(Executor):
    @requests(on="/x")
    def run(self, docs):  # no **kwargs: gets only what it names
        docs[0].tags["ok"] = True


def post_one(flow: Flow, on: str, doc: Document | None = None, **kwargs):
    with flow:
        return flow.post(on, doc or Document(id="d1", text="x"), **kwargs)


def test_bindings_and_default_endpoint():
    flow = Flow().add(uses=Binder)
    with flow:
        assert flow.post("/a", Document())[0].tags["by"] == "a"
        assert flow.post("/b", Document(), parameters={"p": 1})[0].tags == {"by": "bc", "p": 1}
        assert flow.post("/c", Document())[0].tags["by"] == "bc"
        assert flow.post("/anything", Document())[0].tags["by"] == "default"
    assert Binder.endpoints() == sorted(["/a", "/b", "/c", DEFAULT_ENDPOINT])


def test_requests_rejects_paths_without_slash():
    with pytest.raises(ValueError, match="starting with '/'"):
        requests(on="index")


def test_return_none_keeps_docs_changed_in_place():
    out = post_one(Flow().add(uses=Returns), "/none")
    assert out.texts == ["changed in place"]


def test_return_documentarray_replaces_docs():
    out = post_one(Flow().add(uses=Returns), "/replace")
    assert out.ids == ["new"]


def test_return_list_of_documents_replaces_docs():
    assert post_one(Flow().add(uses=Returns), "/list").ids == ["from-list"]


def test_return_dict_reaches_caller_as_results():
    flow = Flow().add(uses=Returns, name="ret")
    with flow:
        responses = flow.post("/dict", [Document(), Document()], return_responses=True)
        docs = flow.post("/dict", [Document(id="keep")])
    assert responses[0].parameters["__results__"] == {"ret/rep-0": {"seen": 2}}
    assert docs.ids == ["keep"]


def test_unsupported_return_value_is_a_flow_error():
    with pytest.raises(FlowError, match=r"executor 'ret' shard 0 failed on endpoint '/bad'.*returned int"):
        post_one(Flow().add(uses=Returns, name="ret"), "/bad")


def test_async_method():
    out = post_one(Flow().add(uses=AsyncExec, shards=2), "/async", Document(text="hey"))
    assert out.texts == ["hey!"]


def test_uses_with_and_runtime_args(tmp_path: Path):
    flow = Flow(workspace=str(tmp_path)).add(uses=WithInit, name="greeter", uses_with={"greeting": "hello"})
    assert post_one(flow, "/x").texts == ["hello greeter shard 0"]


def test_executor_without_super_init_still_gets_runtime(tmp_path: Path):
    flow = Flow(workspace=str(tmp_path)).add(uses=NoSuperInit, uses_with={"value": 7})
    with flow:
        assert flow.post("/x", Document())[0].tags["value"] == 7
        instance = flow._engine.instances["executor0"][0]  # unnamed: executor0, as in Jina
        assert instance.runtime_args.name == "executor0"
        assert Path(instance.workspace).is_dir()


def test_method_gets_only_the_arguments_it_names():
    assert post_one(Flow().add(uses=OnlyDocs), "/x")[0].tags["ok"] is True


def test_executor_constructed_directly_accepts_jina_kwargs(tmp_path: Path):
    ex = WithInit(greeting="yo", metas={"name": "m"}, runtime_args={"shard_id": 2, "workspace": str(tmp_path)})
    assert ex.greeting == "yo"
    assert ex.runtime_args.shard_id == 2
    assert Path(ex.workspace) == tmp_path / "m" / "2"


def test_workspace_is_per_executor_and_shard_and_survives_restart(tmp_path: Path):
    class Counter(Executor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.file = Path(self.workspace) / "n"
            self.n = int(self.file.read_text()) if self.file.exists() else 0

        @requests
        def bump(self, docs, **kwargs):
            self.n += len(docs)

        def close(self):
            self.file.write_text(str(self.n))

    flow = Flow(workspace=str(tmp_path)).add(uses=Counter, name="counter", shards=2)
    docs = [Document(id=str(i)) for i in range(20)]
    for _ in range(2):
        with flow:
            flow.post("/x", docs)
    counts = [int((tmp_path / "counter" / str(s) / "n").read_text()) for s in range(2)]
    assert sum(counts) == 40 and all(c > 0 for c in counts)


def test_close_is_called_on_exit():
    closed = []

    class Closing(Executor):
        @requests
        def run(self, docs, **kwargs):
            pass

        def close(self):
            closed.append(self.runtime_args.shard_id)

    with Flow().add(uses=Closing, shards=3):
        pass
    assert sorted(closed) == [0, 1, 2]


def test_class_attribute_is_shared_state_within_a_process():
    class Shared(Executor):
        seen: list[str] = []

        @requests
        def run(self, docs, **kwargs):
            Shared.seen.extend(docs.ids)

    with Flow().add(uses=Shared, shards=2) as flow:
        flow.post("/x", [Document(id=str(i)) for i in range(10)])
    assert sorted(Shared.seen) == sorted(str(i) for i in range(10))
