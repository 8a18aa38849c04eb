"""``faasflow new NAME``: a project in faasflow's layout, with a working sharded Flow and a
test that passes as soon as it is written.

The files are kept here as text (not package data), so the scaffold works from a wheel,
an editable install or a Lambda layer alike.
"""

from __future__ import annotations

import re
from pathlib import Path

from faasflow import __version__

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
PLACEHOLDER = "__PROJECT__"

FILES: dict[str, str] = {
    "README.md": """\
# __PROJECT__

A faasflow project: Jina-style executors in
`functions/`, composed into a Flow in `orchestrator/flow.yml`.

```bash
python -m pytest                                   # the tests, on the embedded Flow
faasflow show orchestrator/flow.yml                # the topology
faasflow serve orchestrator/flow.yml --port 8080   # the HTTP gateway (docs at /docs)
```

Index and search over HTTP:

```bash
curl -s localhost:8080/index -d '{"data": [{"id": "1", "text": "a red bicycle by the sea"}]}'
curl -s localhost:8080/search -d '{"data": [{"text": "red bicycle"}], "parameters": {"limit": 3}}'
```

or from Python:

```python
from faasflow import Client, Document

client = Client("http://127.0.0.1:8080")
client.post("/index", [Document(id="1", text="a red bicycle by the sea")])
print(client.post("/search", Document(text="red bicycle"))[0].matches)
```

| path | what it holds |
|---|---|
| `functions/` | the executors: each module's Executor becomes one Lambda function |
| `orchestrator/flow.yml` | the Flow: executors, shards, polling per endpoint |
| `tests/` | tests that run the Flow in-process |
""",
    "pyproject.toml": f"""\
[build-system]
requires = ["setuptools>=69", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "__PROJECT__"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["faasflow[serve]>={__version__}"]

[project.optional-dependencies]
dev = ["pytest>=8"]

[tool.setuptools]
packages = ["functions"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
""",
    ".gitignore": """\
__pycache__/
.pytest_cache/
.faasflow/
*.egg-info/
.venv/
""",
    "functions/__init__.py": '''\
"""The executors of __PROJECT__: each module's Executor becomes one Lambda function."""
''',
    "functions/tokenizer.py": '''\
"""Tokenizer: the distinct lower-case words of each document's text, in ``tags['tokens']``."""

import re

from faasflow import DocumentArray, Executor, requests

WORD = re.compile(r"[a-z0-9]+")


class Tokenizer(Executor):
    """Runs on every endpoint (a bare ``@requests``), so documents and queries compare alike."""

    @requests
    def tokenize(self, docs: DocumentArray, **kwargs) -> None:
        for doc in docs:
            doc.tags["tokens"] = sorted(set(WORD.findall((doc.text or "").lower())))
''',
    "functions/keyword_index.py": '''\
"""KeywordIndex: keeps its shard's documents and finds those sharing the most words.

``/index`` stores (re-indexing an id replaces it); ``/search`` gives each query its
matches, scored by the jaccard distance of the word sets (0 = the same words). The index
is saved in the executor's workspace when the Flow closes, and loaded when it starts.
"""

from pathlib import Path

from faasflow import DocumentArray, Executor, requests


class KeywordIndex(Executor):
    def __init__(self, limit: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit
        self._path = Path(self.workspace) / "index.json"
        self.docs = DocumentArray.from_bytes(self._path.read_bytes()) if self._path.exists() else DocumentArray()

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs) -> None:
        for doc in docs:
            if doc.id in self.docs:
                self.docs[doc.id] = doc
            else:
                self.docs.append(doc)

    @requests(on="/search")
    def search(self, docs: DocumentArray, parameters: dict, **kwargs) -> None:
        limit = int(parameters.get("limit", self.limit))
        for query in docs:
            words = set(query.tags.get("tokens", []))
            scored = []
            for doc in self.docs:
                theirs = set(doc.tags.get("tokens", []))
                union = words | theirs
                if words & theirs:
                    scored.append((1 - len(words & theirs) / len(union), doc))
            scored.sort(key=lambda pair: pair[0])
            matches = []
            for distance, doc in scored[:limit]:
                match = doc.copy()
                match.scores["jaccard"] = distance
                matches.append(match)
            query.matches = matches

    @requests(on="/count")
    def count(self, **kwargs) -> dict:
        return {"count": len(self.docs)}

    def close(self) -> None:
        self._path.write_bytes(self.docs.to_bytes())
''',
    "orchestrator/flow.yml": """\
# The Flow of __PROJECT__: tokenize, then a keyword index over 2 shards.
# /index partitions documents across the shards by id (ANY); /search and /count ask every
# shard (ALL), and the shards' matches are merged, best first, cut to the limit.
jtype: Flow
version: '1'
with:
  name: __PROJECT__
executors:
  - name: tokenizer
    uses: functions.tokenizer.Tokenizer
  - name: index
    uses: functions.keyword_index.KeywordIndex
    shards: 2
    polling:
      /search: ALL
      /count: ALL
      '*': ANY
""",
    "tests/test_flow.py": '''\
"""The Flow, run in-process: index a few documents, then search them."""

from pathlib import Path

import pytest

from faasflow import Document, Flow

FLOW = Path(__file__).resolve().parents[1] / "orchestrator" / "flow.yml"
TEXTS = {
    "bike": "a red bicycle leans on the harbour wall",
    "kite": "children fly a paper kite on the beach",
    "train": "the night train leaves the station at ten",
    "boat": "a red boat sails out of the harbour",
}


@pytest.fixture
def flow(tmp_path):
    flow = Flow.load_config(FLOW)
    flow.workspace = str(tmp_path)
    with flow:
        flow.post("/index", [Document(id=key, text=text) for key, text in TEXTS.items()])
        yield flow


def test_search_finds_the_documents_sharing_most_words(flow):
    results = flow.post("/search", Document(text="red bicycle"), parameters={"limit": 2})
    matches = results[0].matches
    assert [m.id for m in matches] == ["bike", "boat"]
    assert matches[0].scores["jaccard"].value < matches[1].scores["jaccard"].value


def test_every_document_is_on_exactly_one_shard(flow):
    results = flow.post("/count", return_responses=True)[0].parameters["__results__"]
    # keyed as in Jina, by each shard's runtime name: index/shard-0/rep-0, index/shard-1/rep-0, ...
    assert sum(count["count"] for name, count in results.items() if name.startswith("index/")) == len(TEXTS)


def test_reindexing_an_id_replaces_the_document(flow):
    flow.post("/index", Document(id="kite", text="a blue kite over the hill"))
    matches = flow.post("/search", Document(text="blue kite"))[0].matches
    assert matches[0].id == "kite" and "blue" in matches[0].text
''',
}


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"a project name starts with a letter and has only letters, digits, '-' and '_': {name!r}")


def scaffold(name: str, parent: Path = Path(".")) -> Path:
    """Write the project ``parent/name`` (which must not exist, or be empty); returns its path."""
    check_name(name)
    root = Path(parent) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} already exists and is not empty")
    for relative, text in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace(PLACEHOLDER, name))
    return root
