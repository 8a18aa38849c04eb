"""A user's first steps, for real: a fresh virtual env where `pip install 'faasflow[testing]'`
(from this checkout, as a wheel) and `faasflow tools` are the only set-up, then `faasflow new`
and `python -m pytest` in the new project. Its in-process tests and its emulator tests (the
`deployed_flow` fixture: the real SAM CLI, MiniStack) pass. Then the same project is made the
user's own, as a held-out check of the plugin: executors of theirs that write numpy and bytes
tags, a `needs` join over a sharded store, a test of theirs comparing the deployed answers with
the embedded ones, and a batch file indexed through the bucket."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faasflow.deploy.tools import tools_dir
from tests.support.user_project import FLOW, JOIN, STATS

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]

USER_TEST = '''
"""The user's own test of their deployed Flow, against the embedded one."""

import json

import pytest

from faasflow import Document, DocumentArray, Flow, codec

pytestmark = pytest.mark.emulator
LINES = ["the quick brown fox", "a lazy dog sleeps", "quick brown dogs run fast", "foxes and dogs"]


def wire(docs):
    return codec.to_plain(codec.docs_to_list(docs))


@pytest.fixture
def embedded(tmp_path, deployed_flow):
    flow = Flow.load_config("orchestrator/flow.yml")
    flow.workspace = str(tmp_path)
    with flow:
        yield flow


def test_the_join_answers_as_embedded(deployed_flow, embedded):
    docs = DocumentArray(Document(id=f"u{i}", text=line) for i, line in enumerate(LINES))
    assert wire(deployed_flow.post("/index", docs)) == wire(embedded.post("/index", docs))
    query = Document(id="q", text="quick fox")
    remote = deployed_flow.post("/search", query, parameters={"limit": 2})
    assert remote[0].matches and wire(remote) == wire(embedded.post("/search", query, parameters={"limit": 2}))
    assert remote[0].tags["joined_from"] == 2 and remote[0].tags["raw"] == "cXVpYw=="  # b"quic"


def test_a_batch_file_lands_in_the_sharded_store(deployed_flow, tmp_path):
    path = tmp_path / "more.jsonl"
    path.write_text("".join(json.dumps({"id": f"b{i}", "text": f"batch line {i}"}) + "\\n" for i in range(7)))
    summary = deployed_flow.index_file(path)
    assert summary["docs_indexed"] == 7 and deployed_flow.bucket and deployed_flow.state_machine_arn
'''


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory, emulator_tools: None) -> tuple[Path, dict[str, str]]:
    """A virtual env with faasflow[testing] installed as a user installs it: not editable."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "FAASFLOW_"))}
    env["FAASFLOW_TOOLS_DIR"] = str(tools_dir())  # the tools this run already made: the same pinned set
    started = time.monotonic()
    made = run([sys.executable, "-m", "venv", str(venv)], ROOT, env)
    assert made.returncode == 0, made.stderr
    pip = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "-c", str(ROOT / "constraints.txt"), f"{ROOT}[testing]"], ROOT, env)
    if pip.returncode != 0:
        pytest.skip(f"could not install faasflow[testing] into a fresh venv: {pip.stderr[-2000:]}")
    print(f"\nfresh venv with faasflow[testing]: {time.monotonic() - started:.0f} s")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return venv, env


def test_a_new_project_passes_its_own_tests_then_the_users_own_flow_does(fresh_env, tmp_path: Path) -> None:
    venv, env = fresh_env
    started = time.monotonic()
    assert run([str(venv / "bin" / "faasflow"), "tools"], tmp_path, env).returncode == 0
    made = run([str(venv / "bin" / "faasflow"), "new", "shop"], tmp_path, env)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "shop"
    tested = run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"], project, env)
    print(f"faasflow new -> green emulator test: {time.monotonic() - started:.0f} s\n{tested.stdout[-600:]}")
    assert tested.returncode == 0, tested.stdout[-6000:] + tested.stderr[-3000:]
    assert re.search(r"\b5 passed\b", tested.stdout) and "skipped" not in tested.stdout  # 3 in-process, 2 deployed

    # the user makes it their own: a join over the sharded store, executors of theirs, a test of theirs
    (project / "functions" / "stats.py").write_text(STATS)
    (project / "functions" / "join.py").write_text(JOIN)
    (project / "orchestrator" / "flow.yml").write_text(FLOW)
    for name in ("test_flow.py", "test_deployed.py"):
        (project / "tests" / name).unlink()
    (project / "tests" / "test_mine.py").write_text(USER_TEST)
    tested = run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"], project, env)
    assert tested.returncode == 0, tested.stdout[-6000:] + tested.stderr[-3000:]
    assert re.search(r"\b2 passed\b", tested.stdout) and "skipped" not in tested.stdout
