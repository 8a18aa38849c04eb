"""``faasflow new``: the whole layout a serverless project has, built from the start, whose
own in-process tests pass; and a name or folder it refuses, or a build that fails, is one
line with nothing left behind."""

from __future__ import annotations

import ast
import json
import os
import py_compile
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import yaml

from faasflow import Document, Flow
from faasflow import scaffold as scaffold_module
from faasflow.cli import main
from faasflow.errors import FaasflowError
from faasflow.storage import open_storage
from faasflow.storage.segments import SegmentLog

NAME = "demo-search"
LAYOUT = (
    "pyproject.toml",
    "README.md",
    ".gitignore",
    "functions/__init__.py",
    "functions/tokenizer.py",
    "functions/keyword_index.py",
    "orchestrator/flow.yml",
    f"orchestrator/{NAME}.asl.json",
    f"orchestrator/{NAME}.batch.asl.json",
    "layers/runtime/requirements.txt",
    "layers/gateway/requirements.txt",
    "infra/README.md",
    "tests/test_flow.py",
    "tests/test_deployed.py",
    "template.yaml",
)
FOLDERS = ("functions", "orchestrator", "layers", "infra", "tests", ".faasflow/build/layers/faasflow/python/faasflow")


def faasflow(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faasflow", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("new")
    assert main(["new", NAME, "--directory", str(parent)]) == 0
    return parent / NAME


@pytest.fixture
def functions_untouched() -> Iterator[None]:
    """``new`` imports the project's ``functions`` to build it: the caller's own (the reference
    app's) must be the one cached, and on the path, afterwards."""
    import functions.doc_store  # noqa: F401 - the reference app's package, cached as a caller's would be

    path = list(sys.path)
    cached = {name: module for name, module in sys.modules.items() if name.partition(".")[0] == "functions"}
    yield
    assert sys.path == path
    assert {n: m for n, m in sys.modules.items() if n.partition(".")[0] == "functions"} == cached


def test_every_path_of_the_layout_is_made(project: Path):
    for path in LAYOUT:
        assert (project / path).is_file(), path
    for folder in FOLDERS:
        assert (project / folder).is_dir(), folder


def test_the_template_names_a_function_per_executor_shard(project: Path):
    resources = yaml.safe_load((project / "template.yaml").read_text())["Resources"]
    functions = {name: resource["Properties"] for name, resource in resources.items()
                 if resource["Type"] == "AWS::Serverless::Function"}
    executors = sorted((props["Environment"]["Variables"]["FAASFLOW_EXECUTOR"], props["CodeUri"])
                       for props in functions.values()
                       if "FAASFLOW_EXECUTOR" in props.get("Environment", {}).get("Variables", {}))
    assert executors == [("index", "functions/"), ("index", "functions/"), ("tokenizer", "functions/")]
    assert {"TokenizerFunction", "IndexShard0Function", "IndexShard1Function", "GatewayFunction"} <= set(functions)


def test_the_project_is_built_as_faasflow_build_builds_it(project: Path):
    done = faasflow("build", "orchestrator/flow.yml", "--check", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_project_files_say_how_to_install_test_and_ignore(project: Path):
    pyproject = (project / "pyproject.toml").read_text()
    assert 'dependencies = ["faasflow[serve]>=' in pyproject
    assert 'dev = ["faasflow[testing]>=' in pyproject
    assert 'markers = ["emulator: deploys the Flow to a local AWS emulator"]' in pyproject
    assert 'testpaths = ["tests"]' in pyproject and 'pythonpath = ["."]' in pyproject
    ignored = (project / ".gitignore").read_text().splitlines()
    assert {".faasflow/", ".aws-sam/"} <= set(ignored)
    readme = (project / "README.md").read_text()
    for folder in ("pyproject.toml", "functions/", "orchestrator/flow.yml", "layers/", "infra/", "tests/",
                   "template.yaml"):
        assert f"| `{folder}` |" in readme, folder
    for command in ("python -m pytest", "faasflow tools", "faasflow build orchestrator/flow.yml",
                    "faasflow serve orchestrator/flow.yml", "faasflow deploy orchestrator/flow.yml",
                    "--endpoint-url"):
        assert command in readme, command


def test_the_generated_in_process_tests_pass(project: Path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_flow.py"],
                          cwd=project, capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    shown = faasflow("show", "orchestrator/flow.yml", cwd=project)
    assert shown.returncode == 0 and f"Flow '{NAME}'" in shown.stdout


def test_the_generated_emulator_test_compiles_and_is_marked(project: Path, tmp_path: Path):
    source = project / "tests" / "test_deployed.py"
    py_compile.compile(str(source), cfile=str(tmp_path / "test_deployed.pyc"), doraise=True)
    tree = ast.parse(source.read_text())
    marks = [ast.unparse(node.value) for node in tree.body
             if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)]
    assert marks == ["pytest.mark.emulator"]
    tests = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    assert tests and all("deployed_flow" in [a.arg for a in test.args.args] for test in tests)


def test_new_leaves_the_callers_imports_as_they_were(tmp_path: Path, functions_untouched: None):
    assert main(["new", "second", "--directory", str(tmp_path)]) == 0
    assert (tmp_path / "second" / "template.yaml").is_file()


def test_a_refused_name_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["new", "9lives", "--directory", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("faasflow: error: a project name starts with a letter") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_that_is_not_empty_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "notes.txt").write_text("mine")
    assert main(["new", NAME, "--directory", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("faasflow: error: ") and "already exists and is not empty" in err and err.count("\n") == 1
    assert [p.name for p in (tmp_path / NAME).iterdir()] == ["notes.txt"]


def _failing_build(root: Path) -> list[Path]:
    (root / "template.yaml").write_text("half\n")
    raise FaasflowError("executor 'index', field 'uses': cannot import functions.keyword_index")


def test_a_failed_build_is_one_line_and_leaves_no_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(scaffold_module, "build", _failing_build)
    assert main(["new", NAME, "--directory", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"faasflow: error: could not make the project '{NAME}'") and err.count("\n") == 1
    assert "cannot import functions.keyword_index" in err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_build_in_an_empty_folder_empties_it_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def crash(root: Path) -> list[Path]:
        raise OSError("disk full\nsecond line")

    (tmp_path / NAME).mkdir()
    monkeypatch.setattr(scaffold_module, "build", crash)
    with pytest.raises(FaasflowError, match="OSError: disk full$"):
        scaffold_module.scaffold(NAME, tmp_path)
    assert (tmp_path / NAME).is_dir() and list((tmp_path / NAME).iterdir()) == []


# --- the scaffold's KeywordIndex keeps its state as Lambda needs: durable, shared, never closed ---

WORKER = """
import json, os, sys

sys.path.insert(0, os.getcwd())  # the project's own `functions`
from faasflow import Document, Flow

workspace, on, payload = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
flow = Flow.load_config("orchestrator/flow.yml")
flow.workspace = workspace
flow.start()
if on == "/index":
    for batch in payload:  # a request per batch
        flow.post("/index", [Document(id=key, text=text) for key, text in batch])
    answer = None
elif on == "/search":
    found = flow.post("/search", [Document(id=q, text=q) for q in payload], parameters={"limit": 3})
    answer = [[[m.id, m.text, m.scores["jaccard"].value] for m in query.matches] for query in found]
else:
    results = flow.post("/count", return_responses=True)[0].parameters["__results__"]
    answer = sum(count["count"] for name, count in results.items() if name.startswith("index/"))
print(json.dumps(answer), flush=True)
os._exit(0)  # as a Lambda container goes: never closed
"""
TEXTS = {
    "bike": "a red bicycle leans on the harbour wall",
    "kite": "children fly a paper kite on the beach",
    "train": "the night train leaves the station at ten",
    "boat": "a red boat sails out of the harbour",
}
QUERIES = ["red bicycle", "kite", "the harbour", "red boat harbour wall", "nothing matches this"]


def worker(project: Path, workspace: Path, on: str, payload: object = None, *, wait: bool = True):
    """The scaffolded Flow in a process of its own, as a fresh Lambda container is: it runs
    ``on`` and ends without closing the Flow. ``wait=False``: the running process."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen([sys.executable, "-c", WORKER, str(workspace), on, json.dumps(payload)], cwd=project,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    return finished(process) if wait else process


def finished(process: subprocess.Popen) -> object:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    return json.loads(out.strip().splitlines()[-1])


@contextmanager
def flows(project: Path, workspace: Path, count: int) -> Iterator[list[Flow]]:
    """``count`` Flow objects of the project, open at once on one workspace: as many
    containers of each function."""
    with scaffold_module.project_imports(project), ExitStack() as stack:
        opened = []
        for _ in range(count):
            flow = Flow.load_config(project / "orchestrator" / "flow.yml")
            flow.workspace = str(workspace)
            opened.append(stack.enter_context(flow))
        yield opened


def search(flow: Flow) -> list:
    """The answers to QUERIES as ``worker`` gives them."""
    found = flow.post("/search", [Document(id=q, text=q) for q in QUERIES], parameters={"limit": 3})
    return [[[m.id, m.text, m.scores["jaccard"].value] for m in query.matches] for query in found]


def count(flow: Flow) -> int:
    results = flow.post("/count", return_responses=True)[0].parameters["__results__"]
    return sum(result["count"] for name, result in results.items() if name.startswith("index/"))


def segments(workspace: Path) -> list[int]:
    """How many segments each shard's manifest lists."""
    return [len(SegmentLog(open_storage(str(workspace / "index" / str(shard) / "state"))).manifest().segments)
            for shard in range(2)]


def test_a_fresh_process_sees_what_another_indexed_and_never_closed(project: Path, tmp_path: Path):
    workspace = tmp_path / "workspace"
    worker(project, workspace, "/index", [list(TEXTS.items())])
    assert worker(project, workspace, "/count") == len(TEXTS)
    answers = worker(project, workspace, "/search", QUERIES)
    # bike and boat tie for the third and fourth queries: the one indexed first comes first
    assert [[match[0] for match in answer] for answer in answers] == [
        ["bike", "boat"], ["kite"], ["bike", "boat", "train"], ["bike", "boat"], []]
    with flows(project, workspace, 1) as (flow,):
        assert search(flow) == answers  # in-process, it answers the same


def test_an_open_flow_sees_a_reindexed_id_from_another_process(project: Path, tmp_path: Path):
    workspace = tmp_path / "workspace"
    with flows(project, workspace, 1) as (flow,):
        flow.post("/index", [Document(id=key, text=text) for key, text in TEXTS.items()])
        assert worker(project, workspace, "/count") == len(TEXTS)  # while this Flow is open, unclosed
        worker(project, workspace, "/index", [[["kite", "a blue kite over the hill"]]])
        matches = flow.post("/search", Document(text="blue kite"))[0].matches  # this warm one catches up
        assert [(m.id, m.text) for m in matches] == [("kite", "a blue kite over the hill")]
        assert count(flow) == len(TEXTS)
    found = worker(project, workspace, "/search", ["paper kite"])[0]  # the old text is gone everywhere
    assert [(match[0], match[1]) for match in found] == [("kite", "a blue kite over the hill")]


def test_two_writers_interleaved_lose_nothing_and_the_last_write_of_an_id_wins(project: Path, tmp_path: Path):
    workspace = tmp_path / "workspace"
    with flows(project, workspace, 2) as (first, second):
        for i in range(30):  # one doc a request: enough segments to fold, more than once
            first.post("/index", Document(id=f"first-{i}", text=f"harbour boat number {i}"))
            second.post("/index", Document(id=f"second-{i}", text=f"harbour kite number {i}"))
            (first if i % 2 else second).post("/index", Document(id="shared", text=f"shared harbour text {i}"))
        assert count(first) == count(second) == 61
        assert search(first) == search(second)
        shared = first.post("/search", Document(text="shared"))[0].matches
        assert [(m.id, m.text) for m in shared] == [("shared", "shared harbour text 29")]
        assert max(segments(workspace)) <= 16  # folded: a cold container reads a few objects
        answers = search(first)
    assert worker(project, workspace, "/count") == 61
    assert worker(project, workspace, "/search", QUERIES) == answers


def test_two_writer_processes_at_once_lose_nothing(project: Path, tmp_path: Path):
    workspace = tmp_path / "workspace"
    running = [worker(project, workspace, "/index", [[[f"{name}-{i}", f"word {name} {i}"]] for i in range(25)],
                      wait=False) for name in ("left", "right")]
    for process in running:
        finished(process)
    assert worker(project, workspace, "/count") == 50
