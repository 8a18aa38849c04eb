"""Jina's executor YAML (``Executor.load_config``, ``uses=`` as YAML text, file or
mapping), ``requests=``/``@requests(on='*')``, workspaces, and what ``post`` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from faasflow import Document, DocumentArray, Executor, Flow, requests
from faasflow.errors import FlowConfigError


class YamlExec(Executor):
    def __init__(self, bar: str, bar2: int = 3, **kwargs: Any):
        super().__init__(**kwargs)
        self.bar = bar  # shadows the method's name on the instance, as in Jina's own test
        self.bar2 = bar2

    @requests(on="/foo")
    def foo(self, docs: DocumentArray, **kwargs: Any) -> None:
        for d in docs:
            d.text = f"foo:{self.bar}:{self.bar2}"

    @requests
    def bar(self, docs: DocumentArray, **kwargs: Any) -> None:
        for d in docs:
            d.text = "bar"

    def random(self, docs: DocumentArray, **kwargs: Any) -> None:
        for d in docs:
            d.text = "random"


YAML = """
jtype: YamlExec
with:
  bar: hello
  bar2: 1
metas:
  name: awesome
  description: an executor
requests:
  /random_endpoint: random
"""

MODULE_EXEC = """
from faasflow import Executor, requests

class FileExec(Executor):
    def __init__(self, greeting, **kwargs):
        super().__init__(**kwargs)
        self.greeting = greeting

    @requests
    def run(self, docs, **kwargs):
        for d in docs:
            d.text = self.greeting
"""


def test_load_config_reads_jtype_with_metas_requests(tmp_path: Path):
    ex = Executor.load_config(YAML)
    assert isinstance(ex, YamlExec)
    assert (ex.bar, ex.bar2, ex.metas.name, ex.metas.description) == ("hello", 1, "awesome", "an executor")
    assert {"/foo", "/default", "/random_endpoint"} <= set(ex.requests)
    saved = tmp_path / "a.yml"
    ex.save_config(saved)
    again = Executor.load_config(str(saved))
    assert (again.bar, again.bar2) == ("hello", 1) and "/random_endpoint" in again.requests


def test_load_config_tag_and_py_modules_file(tmp_path: Path):
    (tmp_path / "file_exec.py").write_text(MODULE_EXEC)
    (tmp_path / "exec.yml").write_text("!FileExec\nwith:\n  greeting: hi\npy_modules: file_exec.py\n")
    ex = Executor.load_config(str(tmp_path / "exec.yml"))
    assert type(ex).__name__ == "FileExec" and ex.greeting == "hi"


@pytest.mark.parametrize("form", ["text", "mapping"])
@pytest.mark.parametrize(("endpoint", "text"), [("/foo", "foo:hello:1"), ("/random_endpoint", "random"),
                                                ("/other", "bar")])
def test_uses_yaml_text_and_mapping_route(run_flow: Any, form: str, endpoint: str, text: str):
    uses: Any = YAML if form == "text" else {"jtype": "YamlExec", "with": {"bar": "hello", "bar2": 1},
                                             "requests": {"/random_endpoint": "random"}}
    docs = run_flow(Flow().add(uses=uses), endpoint, Document())
    assert docs.texts == [text]


def test_uses_yaml_file_with_py_modules_runs_in_every_mode(run_flow: Any, tmp_path: Path):
    folder = tmp_path / "exec"
    folder.mkdir()
    (folder / "file_exec.py").write_text(MODULE_EXEC)
    (folder / "exec.yml").write_text("!FileExec\nwith:\n  greeting: hi\nmetas:\n  py_modules: [file_exec.py]\n")
    flow = Flow().add(uses=str(folder / "exec.yml"), uses_with={"greeting": "override"})
    assert flow.plan.executors[0].uses.endswith("file_exec.py:FileExec")
    assert run_flow(flow, "/x", Document()).texts == ["override"]


def test_uses_yaml_errors_name_executor_and_field(tmp_path: Path):
    with pytest.raises(FlowConfigError, match="executor 'e'.*field 'uses'.*jtype"):
        Flow().add(name="e", uses={"with": {}}).build()
    with pytest.raises(FlowConfigError, match="executor 'e'.*field 'uses'.*no such executor YAML"):
        Flow().add(name="e", uses=str(tmp_path / "missing.yml")).build()
    with pytest.raises(FlowConfigError, match="unknown key"):
        Flow().add(name="e", uses={"jtype": "YamlExec", "whith": {}}).build()


def test_uses_before_after_mapping_form(run_flow: Any):
    class Tail(Executor):
        def __init__(self, mark: str, **kwargs: Any):
            super().__init__(**kwargs)
            self.mark = mark

        @requests
        def merge(self, docs_matrix: list[DocumentArray], **kwargs: Any) -> DocumentArray:
            out = DocumentArray([d for docs in docs_matrix for d in docs][:1])
            out[0].tags["mark"] = self.mark
            return out

    globals()["Tail"] = Tail  # found by name, as a class imported through py_modules is
    flow = Flow().add(uses=YamlExec, uses_with={"bar": "b"}, shards=2, polling="ALL",
                      uses_after={"jtype": "Tail", "with": {"mark": "m"}})
    assert run_flow(flow, "/foo", Document(id="a"))[0].tags["mark"] == "m"


def test_requests_star_and_override():
    class Override(Executor):
        @requests()
        def default(self, **kwargs: Any) -> None: ...

        @requests(on="*")
        def all(self, **kwargs: Any) -> None: ...

        @requests(on="/foo")
        def foo(self, **kwargs: Any) -> None: ...

    assert set(Override().requests) == {"/foo", "/default", "*"}
    assert set(Override(requests={"/nofoo": "foo", "/new": "all"}).requests) == {"/nofoo", "/default", "/new"}
    assert "*" not in Override.endpoints()  # no path a request is sent to


def test_workspace_as_jina(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ws = str(tmp_path / "w")
    assert Executor(metas={"name": "m", "workspace": ws}).workspace == str(Path(ws).absolute() / "m")
    assert Executor(metas={"name": "m"}, runtime_args={"workspace": ws, "shard_id": 1}).workspace == \
        str(Path(ws).absolute() / "m" / "1")
    assert Executor(metas={"name": "m"}, workspace=ws).workspace == str(Path(ws).absolute() / "m")
    monkeypatch.delenv("FAASFLOW_WORKSPACE", raising=False)
    monkeypatch.setenv("FAASFLOW_DEFAULT_WORKSPACE_BASE", str(tmp_path / "base"))
    assert Executor().workspace == str(tmp_path / "base" / "Executor")
    monkeypatch.delenv("FAASFLOW_DEFAULT_WORKSPACE_BASE")
    monkeypatch.setenv("JINA_DEFAULT_WORKSPACE_BASE", str(tmp_path / "jina"))
    assert Executor().workspace == str(tmp_path / "jina" / "Executor")


def test_post_empty_endpoint_and_pairs(run_flow: Any):
    flow = Flow().add(uses=YamlExec, uses_with={"bar": "b"})
    assert run_flow(flow, "", Document()).texts == ["bar"]
    pairs = [(Document(id=str(i)), Document()) for i in range(3)]
    assert run_flow(Flow().add(uses=YamlExec, uses_with={"bar": "b"}), "/foo", pairs).texts == ["foo:b:3"] * 3
