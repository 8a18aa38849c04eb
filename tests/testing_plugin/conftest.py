"""A tiny faasflow project, and a way to run pytest on it in a subprocess as its user would.

The plugin is tested from the outside: each scenario writes a user's test files into the
project and runs ``python -m pytest`` there (pytester), so the entry point, the options and
the fixtures are exercised as installed. The emulator scenarios share one project folder,
so its ``sam build`` is done once and later deploys use the cache.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

WORDS = '''
"""Words: the distinct lower-case words of each text, in tags['words']."""

import re

from faasflow import DocumentArray, Executor, requests


class Words(Executor):
    @requests
    def words(self, docs: DocumentArray, **kwargs) -> None:
        for doc in docs:
            doc.tags["words"] = sorted(set(re.findall(r"[a-z0-9]+", (doc.text or "").lower())))
'''

STORE = '''
"""Store: keeps its shard's documents; /search matches those sharing words, best first."""

from faasflow import DocumentArray, Executor, requests


class Store(Executor):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.docs = DocumentArray()

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs) -> None:
        for doc in docs:
            if doc.id in self.docs:
                self.docs[doc.id] = doc
            else:
                self.docs.append(doc)

    @requests(on="/search")
    def search(self, docs: DocumentArray, parameters: dict, **kwargs) -> None:
        limit = int(parameters.get("limit", 3))
        for query in docs:
            words = set(query.tags.get("words", []))
            scored = []
            for doc in self.docs:
                theirs = set(doc.tags.get("words", []))
                if words & theirs:
                    scored.append((1 - len(words & theirs) / len(words | theirs), doc.id, doc))
            scored.sort(key=lambda item: item[:2])
            matches = []
            for distance, _, doc in scored[:limit]:
                match = doc.copy()
                match.scores["jaccard"] = distance
                matches.append(match)
            query.matches = matches

    @requests(on="/count")
    def count(self, **kwargs) -> dict:
        return {"count": len(self.docs)}
'''

FLOW = """
jtype: Flow
with:
  name: tiny
executors:
  - name: words
    uses: functions.words.Words
  - name: store
    uses: functions.store.Store
    shards: 2
    polling: {/search: ALL, /count: ALL, '*': ANY}
"""

# A second Flow of the same project, for the faasflow_flow marker: one executor, one shard,
# and an API that wants a key (deployed_flow finds the key SAM made).
OTHER_FLOW = """
jtype: Flow
with:
  name: other
  auth: api_key
executors:
  - name: words
    uses: functions.words.Words
"""

PYPROJECT = """
[tool.pytest.ini_options]
pythonpath = ["."]
markers = ["emulator: deploys the Flow to a local AWS emulator"]
"""

PROJECT_FILES = {
    "functions/__init__.py": "",
    "functions/words.py": WORDS,
    "functions/store.py": STORE,
    "orchestrator/flow.yml": FLOW,
    "flows/other.yml": OTHER_FLOW,
    "pyproject.toml": PYPROJECT,
}

SUBPROCESS_TIMEOUT_S = 1200
# No cache folder in the user's project, and none of this machine's unrelated plugins (seconds each).
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:anyio")


def write_files(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


@pytest.fixture(scope="session")
def project_files() -> dict[str, str]:
    """The tiny project's files (relative path -> text)."""
    return dict(PROJECT_FILES)


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project the emulator scenarios share (its build cache with them)."""
    root = tmp_path_factory.mktemp("tiny-project")
    write_files(root, PROJECT_FILES)
    return root


@pytest.fixture(scope="session")
def plugin_tools() -> None:
    """The SAM CLI and MiniStack environments the subprocesses use; skip if impossible."""
    from faasflow.deploy.tools import ToolsUnavailable, ensure_tools

    try:
        ensure_tools("python3.13")
    except ToolsUnavailable as exc:
        pytest.skip(f"emulator tool environments unavailable: {exc}")


RunPytest = Callable[..., pytest.RunResult]


@pytest.fixture
def run_pytest(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunPytest]:
    """``run_pytest(*args, env=None)``: ``python -m pytest`` in a subprocess, in the pytester
    folder, with the real HOME (pip's cache, pyenv) and this checkout's tool environments."""
    from faasflow.deploy.tools import tools_dir

    home = os.environ.get("HOME")  # pytester points HOME at its folder; the subprocess needs the real one
    tools = str(tools_dir())

    def run(*args: str, env: dict[str, str | None] | None = None) -> pytest.RunResult:
        with monkeypatch.context() as patched:
            if home:
                patched.setenv("HOME", home)
            patched.setenv("FAASFLOW_TOOLS_DIR", tools)
            for name in ("FAASFLOW_TEST_ENDPOINT", "AWS_ENDPOINT_URL", "LOCALSTACK_AUTH_TOKEN"):
                patched.delenv(name, raising=False)
            for name, value in (env or {}).items():
                if value is None:
                    patched.delenv(name, raising=False)
                else:
                    patched.setenv(name, value)
            return pytester.runpytest_subprocess(*QUIET, *args, timeout=SUBPROCESS_TIMEOUT_S)

    yield run
