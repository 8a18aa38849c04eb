"""A plain ``pip install faasflow`` (no extras) works, and whatever needs an extra says so in
one line: ``<feature> needs the '<extra>' extra: pip install 'faasflow[<extra>]'``.

The end-to-end cases run in a real virtual environment holding faasflow (editable, this
working tree) and its core dependencies only, made once per session; the rest check
``faasflow.extras`` itself with real imports in this interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from faasflow.errors import FaasflowError
from faasflow.extras import EXTRAS, MissingExtra, needs, require

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"
INSTALL_TIMEOUT = 600
TIMEOUT = 120
# One module of each extra's packages: a plain install must have none of them.
ABSENT = ("fastapi", "uvicorn", "httpx", "prometheus_client", "boto3", "botocore", "onnxruntime", "tokenizers",
          "mangum", "aws_lambda_powertools")

EXECUTOR = '''
from faasflow import Executor, requests


class Upper(Executor):
    @requests
    def upper(self, docs, **kwargs):
        for doc in docs:
            doc.text = doc.text.upper()
'''
FLOW_YAML = "jtype: Flow\nexecutors:\n  - name: upper\n    uses: upper.Upper\n"


def message(feature: str, extra: str) -> str:
    return f"{feature} needs the '{extra}' extra: pip install 'faasflow[{extra}]'"


# --- a bare environment: faasflow and its core dependencies only ---------------------------


class Bare:
    """The bare environment's interpreter and ``faasflow`` script, and a folder to run in."""

    def __init__(self, prefix: Path, workdir: Path):
        self.python = prefix / "bin" / "python"
        self.faasflow = prefix / "bin" / "faasflow"
        self.workdir = workdir
        self.env = {key: value for key, value in os.environ.items()
                    if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "FAASFLOW_DEBUG")}
        self.env["PYTHONNOUSERSITE"] = "1"

    def run(self, *argv: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(arg) for arg in argv], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.faasflow, *args)

    def python_code(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.python, "-c", code)


def _run_or_skip(argv: list[str], what: str) -> None:
    """Run a setup step; if it fails the environment cannot be made here: skip, saying why."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot {what}: {exc}")
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        pytest.skip(f"cannot {what} (exit {done.returncode}): {tail}")


@pytest.fixture(scope="session")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Bare:
    """A virtual environment as ``pip install faasflow`` leaves it: pip resolves the core
    dependencies from pyproject.toml (through pip's cache and the configured index); this
    interpreter's pip installs into it, so it needs no pip of its own."""
    prefix = tmp_path_factory.mktemp("bare-venv")
    _run_or_skip([sys.executable, "-m", "venv", "--without-pip", str(prefix)], "create a virtual environment")
    _run_or_skip([sys.executable, "-m", "pip", "--python", str(prefix / "bin" / "python"), "install", "--quiet",
                  "--constraint", str(CONSTRAINTS), "--editable", str(ROOT)], "install faasflow into it")
    workdir = tmp_path_factory.mktemp("bare-work")
    (workdir / "upper.py").write_text(EXECUTOR)
    (workdir / "flow.yml").write_text(FLOW_YAML)
    (workdir / "model.onnx").write_bytes(b"")  # OnnxEncoder finds its model before it loads ONNX Runtime
    env = Bare(prefix, workdir)
    found = env.python_code(f"import importlib.util\nprint([m for m in {ABSENT!r} if importlib.util.find_spec(m)])")
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]", f"a plain install brings an extra's modules: {found.stdout}"
    return env


def test_plain_faasflow_imports_and_posts_in_process(bare: Bare):
    done = bare.python_code(textwrap.dedent(f"""
        import sys

        import faasflow
        from faasflow import Document, DocumentArray, Executor, Flow

        from upper import Upper

        assert issubclass(Upper, Executor)
        with Flow().add(uses=Upper, name="upper") as flow:
            docs = flow.post("/any", DocumentArray([Document(id="a", text="plain")]))
        print(docs[0].text)
        print(sorted({{m.partition(".")[0] for m in sys.modules}} & set({ABSENT!r})))
    """))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["PLAIN", "[]"]


def test_plain_faasflow_runs_faasflows_own_vector_index(bare: Bare):
    """Its declared search parameters are a pydantic model: pydantic is a core dependency."""
    done = bare.python_code(textwrap.dedent("""
        import numpy as np
        from faasflow import Document, DocumentArray, Flow

        flow = Flow().add(uses="faasflow.executors.VectorIndexer", name="index", shards=2)
        flow.workspace = "vector-workspace"
        with flow:
            flow.post("/index", DocumentArray(Document(id=str(i), embedding=np.eye(4)[i]) for i in range(4)))
            hits = flow.post("/search", Document(embedding=np.eye(4)[2]), parameters={"limit": 1})
        print(hits[0].matches[0].id)
    """))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"


def test_plain_faasflow_runs_a_flow_file(bare: Bare):
    (bare.workdir / "docs.jsonl").write_text('{"id": "a", "text": "plain"}\n')
    done = bare.cli("run", "flow.yml", "--on", "/any", "--input", "docs.jsonl", "--output", "-")
    assert done.returncode == 0, done.stderr
    assert '"text":"PLAIN"' in done.stdout


@pytest.mark.parametrize(
    ("args", "feature", "extra"),
    [
        (("serve", "flow.yml"), "faasflow serve", "serve"),
        (("ping", "http://127.0.0.1:1"), "faasflow ping", "serve"),
        (("deploy", "flow.yml", "--out", "project"), "faasflow deploy", "aws"),
        (("status", "--stack-name", "x"), "faasflow status", "aws"),
        (("fsck", "s3://bucket/prefix/"), "faasflow fsck", "aws"),
    ],
    ids=["serve", "ping", "deploy", "status", "fsck"],
)
def test_a_command_names_the_extra_it_needs(bare: Bare, args: tuple[str, ...], feature: str, extra: str):
    done = bare.cli(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == f"faasflow: error: {message(feature, extra)}"
    assert not (bare.workdir / "project").exists(), "nothing is written before the check"


SNIPPET = """
import sys
try:
{body}
except Exception as e:
    print(f"{{type(e).__name__}}: {{e}}", file=sys.stderr)
    sys.exit(1)
"""


@pytest.mark.parametrize(
    ("body", "feature", "extra"),
    [
        ("from faasflow.serve import create_app", "faasflow.serve", "serve"),
        ("from faasflow import Client\nClient('http://127.0.0.1:1').post('/x')", "the HTTP Client", "serve"),
        ("from faasflow import Flow\nwith Flow(protocol='http'):\n    pass", "Flow(protocol='http')", "serve"),
        ("from faasflow.executors import OnnxEncoder\nOnnxEncoder(model='model.onnx')", "OnnxEncoder", "onnx"),
        ("import faasflow.aws\nfaasflow.aws.aws_client('s3', 'http://127.0.0.1:1', 'us-east-1', "
         "dummy_credentials=True)", "an AWS s3 client", "aws"),
    ],
    ids=["serve-import", "client", "flow-http", "onnx-encoder", "aws-client"],
)
def test_python_names_the_extra_it_needs(bare: Bare, body: str, feature: str, extra: str):
    done = bare.python_code(SNIPPET.format(body=textwrap.indent(body, "    ")))
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == f"MissingExtra: {message(feature, extra)}"


# --- one extra installed, the other not (this interpreter, a module hidden) -----------------


def hiding(module: str, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter in which ``module`` cannot be imported."""
    return subprocess.run([sys.executable, "-c", f"import sys\nsys.modules[{module!r}] = None\n{code}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def test_an_iam_client_names_the_aws_extra():
    done = hiding("boto3", SNIPPET.format(body="    from faasflow import Client\n"
                                               "    Client('http://127.0.0.1:1', auth='iam', aws_region='eu-west-1')"))
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == "MissingExtra: " + message("Client(auth='iam')", "aws")


def test_ping_with_iam_names_the_aws_extra():
    done = hiding("boto3", "from faasflow.cli import main\nsys.exit(main(['ping', 'http://127.0.0.1:1', "
                           "'--auth', 'iam']))")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"faasflow: error: {message('faasflow ping --auth iam', 'aws')}\n"


# --- faasflow.extras itself ---------------------------------------------------------------


@pytest.fixture
def fake_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An extra ``fake`` whose one package is installed but lacks a module of its own."""
    (tmp_path / "fake_extra_pkg").mkdir()
    (tmp_path / "fake_extra_pkg" / "__init__.py").write_text("import fake_extra_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(EXTRAS, "fake", ("fake_extra_pkg", "fake_extra_absent"))
    yield "fake"
    sys.modules.pop("fake_extra_pkg", None)


def test_a_missing_module_of_the_extra_is_named_as_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(MissingExtra) as raised:
        require("OnnxEncoder", "onnx")
    assert str(raised.value) == "OnnxEncoder needs the 'onnx' extra: pip install 'faasflow[onnx]'"
    assert (raised.value.feature, raised.value.extra, raised.value.name) == ("OnnxEncoder", "onnx", "tokenizers")
    assert isinstance(raised.value, ModuleNotFoundError) and isinstance(raised.value, FaasflowError)
    assert isinstance(raised.value.__cause__, ModuleNotFoundError)


def test_only_the_modules_asked_for_are_checked(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    require("the HTTP Client", "serve", ("httpx",))
    with pytest.raises(MissingExtra, match="^faasflow serve needs the 'serve' extra"):
        require("faasflow serve", "serve", ("fastapi", "uvicorn"))


def test_a_module_an_installed_package_lacks_keeps_its_own_error(fake_extra: str):
    with pytest.raises(ModuleNotFoundError) as raised:
        require("a fake feature", fake_extra, ("fake_extra_pkg",))
    assert not isinstance(raised.value, MissingExtra)
    assert raised.value.name == "fake_extra_dependency"
    with pytest.raises(MissingExtra, match="^a fake feature needs the 'fake' extra"):
        require("a fake feature", fake_extra, ("fake_extra_absent",))


def test_needs_renames_the_body_failing_on_the_extra_only(fake_extra: str):
    with pytest.raises(MissingExtra, match=r"^a fake feature needs the 'fake' extra: pip install 'faasflow\[fake\]'$"):
        with needs("a fake feature", fake_extra, ()):
            import fake_extra_absent  # noqa: F401
    with pytest.raises(ModuleNotFoundError) as raised:
        with needs("a fake feature", fake_extra, ()):
            import fake_extra_pkg  # noqa: F401
    assert not isinstance(raised.value, MissingExtra) and raised.value.name == "fake_extra_dependency"


def test_the_outermost_feature_is_named(fake_extra: str, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(MissingExtra, match="^what the user did needs the 'fake' extra"):
        with needs("what the user did", fake_extra, ()), needs("what it uses", fake_extra, ()):
            import fake_extra_absent  # noqa: F401
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingExtra, match="^an AWS s3 client needs the 'aws' extra"):  # another extra: as it is
        with needs("what the user did", fake_extra, ()):
            from faasflow.aws import aws_client

            aws_client("s3", "http://127.0.0.1:1", "us-east-1", dummy_credentials=True)


def test_an_optional_import_guard_still_catches_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    try:
        require("OnnxEncoder", "onnx")
    except ImportError as exc:  # what code guarding an optional import catches
        assert isinstance(exc, MissingExtra)
    else:
        pytest.fail("no ImportError")


def test_a_lean_client_without_botocore_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "botocore", None)
    from faasflow.aws import aws_client

    with pytest.raises(MissingExtra, match="^an AWS s3 client needs the 'aws' extra"):
        aws_client("s3", "http://127.0.0.1:1", "us-east-1", dummy_credentials=True, lean=True)
