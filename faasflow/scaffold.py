"""``faasflow new NAME``: a project in faasflow's layout, with a working sharded Flow, built
for AWS from the start, and tests that pass as soon as it is written.

The files are kept here as text (not package data), so the scaffold works from a wheel and
an editable install alike. The generated files (``template.yaml``, the state machines, the
layer folders) are not kept here: ``faasflow build`` writes them, so they always match the
faasflow that made the project.
"""

from __future__ import annotations

import importlib
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faasflow import __version__
from faasflow.errors import FaasflowError

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
PLACEHOLDER = "__PROJECT__"
FLOW_FILE = "orchestrator/flow.yml"
# The project's own top-level packages: the Flow's executors import from them.
PACKAGES = ("functions",)

FILES: dict[str, str] = {
    "README.md": """\
# __PROJECT__

A faasflow project: Jina-style executors in `functions/`, composed into a Flow in
`orchestrator/flow.yml`, that runs in-process, over HTTP, and serverless on AWS.

```bash
python -m pip install -e '.[dev]'   # faasflow, and what the tests need
python -m pytest                    # the tests
```

| path | what it holds |
|---|---|
| `pyproject.toml` | the project: its faasflow dependency, the `dev` extra for the tests, pytest's settings |
| `functions/` | the executors: each module's Executor becomes a Lambda function (one per shard) |
| `orchestrator/flow.yml` | the Flow: executors, shards, polling per endpoint |
| `orchestrator/*.asl.json` | generated: the Step Functions state machines (requests, batch indexing) |
| `orchestrator/*.gateway/` | generated: the API function's own code folder (the endpoints' parameters) |
| `layers/` | the Lambda layers' pinned requirements: `runtime/` for every function, `gateway/` for the API's |
| `infra/` | container images: the Dockerfiles of executors with `package: image` or `gpu: true` go to `infra/images/` |
| `tests/` | `test_flow.py` runs the Flow in-process; `test_deployed.py` checks the deployed Flow answers the same |
| `template.yaml` | generated: the SAM template (a function per executor shard, state machines, API Gateway, a bucket) |
| `.faasflow/` | generated, not committed: the staged faasflow layer, the local workspace |

`template.yaml`, the state machines and the layer folders come from the Flow: after editing
`orchestrator/flow.yml` (or adding an executor), regenerate them with

```bash
faasflow build orchestrator/flow.yml
faasflow build orchestrator/flow.yml --check   # exit 1 if they are stale (for CI)
```

`faasflow build` rewrites `layers/*/requirements.txt` while their first line says they are
generated; delete that line to make one yours (to add what your executors import).

## Executor state

Deployed, each executor shard is a Lambda function that many containers serve; any of them
may start cold, and none is told when it stops (`close()` is not called). Memory and the
workspace belong to one container, so what must last goes in the executor's storage,
`self.storage`: a folder in the workspace (`.faasflow/workspace/` by default) in-process,
an S3 prefix per executor and shard on AWS. `functions/keyword_index.py` keeps its documents
there as a `SegmentLog` (immutable segments, listed by a manifest that concurrent writers
update with conditional writes), so every container sees every `/index`, and its attributes
are only that container's cache.

## Tests

`python -m pytest` runs both test files. `tests/test_flow.py` runs the Flow in-process and
always runs. `tests/test_deployed.py` (marked `emulator`) deploys the Flow with the SAM CLI
to MiniStack, a local AWS emulator, and compares its answers with the in-process Flow's;
`faasflow tools` installs both tools, and the test is skipped, with the reason, when they
cannot be installed. `python -m pytest -m "not emulator"` runs only the in-process tests.

## Serve locally

```bash
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

## Deploy

`faasflow deploy` builds the Flow, then runs `sam build` and `sam deploy`:

```bash
faasflow deploy orchestrator/flow.yml                                         # to AWS, with your credentials
faasflow deploy orchestrator/flow.yml --endpoint-url http://127.0.0.1:4566   # to a running emulator
```

The API has no auth until the Flow's `with:` sets `auth: api_key` or `auth: iam`.
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
# the tests: pytest, and faasflow's pytest plugin with what it deploys to the emulator with
dev = ["faasflow[testing]>={__version__}"]

[tool.setuptools]
packages = ["functions"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
markers = ["emulator: deploys the Flow to a local AWS emulator"]
""",
    ".gitignore": """\
__pycache__/
.pytest_cache/
.faasflow/
.aws-sam/
*.no-codedeploy.yaml
*.egg-info/
.venv/
""",
    "infra/README.md": """\
# infra

Container images. An executor with `package: image` (a Lambda container image) or
`gpu: true` (a GPU image) in `orchestrator/flow.yml` gets its Dockerfile and pinned
requirements under `infra/images/` when `faasflow build` runs. The Flow as scaffolded
packages every executor as a zip, so there are none yet.
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
matches, scored by the jaccard distance of the word sets (0 = the same words), best first;
``/count`` says how many documents the shard holds.

Deployed, each shard is a Lambda function served by many containers, any of which may
start cold, and none of which is told when it stops: memory and the workspace belong to
one container, for as long as it lives. So the documents live in the executor's storage
(``self.storage``: a folder in the workspace embedded, an S3 prefix per shard on AWS) as a
``SegmentLog``: each ``/index`` writes its documents as one immutable segment and adds it
to the log's manifest with a conditional write, so concurrent writers never lose each
other's documents. Each request first reads the manifest (one small read) and loads only
the segments this container has not read yet; ``self.docs`` is just this container's copy.
"""

from faasflow import Document, DocumentArray, Executor, requests
from faasflow.storage.segments import SegmentLog, SegmentsChanged

MAX_SEGMENTS = 16  # more segments than this, and /index folds them into one (see compact)


class KeywordIndex(Executor):
    def __init__(self, limit: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit
        self.log = SegmentLog(self.storage)
        self.loaded: list[str] = []  # the segments read into self.docs, in the manifest's order
        self.docs: dict[str, Document] = {}  # by id, in the order first indexed

    def refresh(self) -> None:
        """Catch up with every container's writes: read the segments not read here yet."""
        segments = self.log.manifest().segments  # oldest first
        if tuple(self.loaded) != segments[: len(self.loaded)]:
            self.loaded, self.docs = [], {}  # another container folded them: read them afresh
        for key in segments[len(self.loaded) :]:
            for doc in DocumentArray.from_bytes(self.log.read(key)):
                self.docs[doc.id] = doc  # a later write of an id replaces it, in its place
            self.loaded.append(key)

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs) -> None:
        if not docs:
            return
        manifest = self.log.append(docs.to_bytes())  # every container sees them once this returns
        if len(manifest.segments) > MAX_SEGMENTS:
            self.compact()

    def compact(self) -> None:
        """Fold the segments into one, so that a cold container reads a few objects, not one
        per /index ever made. If another container folded them first, its fold stands."""
        self.refresh()
        folded = self.log.write(DocumentArray(self.docs.values()).to_bytes())
        try:
            self.log.replace(self.loaded, folded)  # segments published since stay after it
        except SegmentsChanged:
            self.log.discard(folded)
            return
        self.loaded = [folded]
        self.log.collect()  # deletes segments folded away long enough ago that no reader needs them

    @requests(on="/search")
    def search(self, docs: DocumentArray, parameters: dict, **kwargs) -> None:
        self.refresh()
        limit = int(parameters.get("limit", self.limit))
        for query in docs:
            words = set(query.tags.get("tokens", []))
            scored = []
            for doc in self.docs.values():
                theirs = set(doc.tags.get("tokens", []))
                if words & theirs:
                    scored.append((1 - len(words & theirs) / len(words | theirs), doc))
            scored.sort(key=lambda pair: pair[0])  # stable: ties keep the order first indexed
            matches = []
            for distance, doc in scored[:limit]:
                match = doc.copy()
                match.scores["jaccard"] = distance
                matches.append(match)
            query.matches = matches

    @requests(on="/count")
    def count(self, **kwargs) -> dict:
        self.refresh()
        return {"count": len(self.docs)}
''',
    "orchestrator/flow.yml": """\
# The Flow of __PROJECT__: tokenize, then a keyword index over 2 shards.
# /index partitions documents across the shards by id (ANY); /search and /count ask every
# shard (ALL), and the shards' matches are merged, best first, cut to the limit.
jtype: Flow
version: '1'
with:
  name: __PROJECT__
  runtime: python3.13  # the Lambda runtime (python3.11, python3.12 or python3.13)
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
    "tests/test_deployed.py": '''\
"""The Flow deployed to a local AWS emulator answers as it does in-process.

``deployed_flow`` (faasflow's pytest plugin) deploys ``orchestrator/flow.yml`` once per
session with the SAM CLI, or skips with the reason when the emulator tools cannot be
installed (``faasflow tools`` installs them). The stack is shared by the session's tests,
so the documents here have ids of their own, and the queries words only these documents
have.
"""

import json
from pathlib import Path

import pytest

from faasflow import Document, DocumentArray, Flow, codec
from faasflow.batch import index_file

pytestmark = pytest.mark.emulator

FLOW = Path(__file__).resolve().parents[1] / "orchestrator" / "flow.yml"
TEXTS = {
    "deployed-aurora": "a green aurora over the frozen fjord",
    "deployed-narwhal": "a narwhal surfaces in the frozen fjord",
    "deployed-glacier": "the glacier calves into the bay",
    "deployed-puffin": "puffins nest on the cliffs above the bay",
}
QUERIES = {"q-fjord": "frozen fjord", "q-glacier": "glacier", "q-puffin": "puffins cliffs"}
BATCH = {
    "deployed-lighthouse": "the lighthouse keeper trims the lamp",
    "deployed-lamp": "an oil lamp glows in the lighthouse window",
    "deployed-storm": "a storm rolls over the lighthouse",
}
BATCH_QUERIES = {"q-lighthouse": "lighthouse lamp", "q-storm": "storm"}


def documents(texts: dict) -> DocumentArray:
    return DocumentArray(Document(id=key, text=text) for key, text in texts.items())


def wire(docs: DocumentArray) -> list:
    """What every mode sends: comparing this compares ids, texts, tags, matches and scores."""
    return codec.to_plain(codec.docs_to_list(docs))


def indexed(flow) -> int:
    """The documents the index holds, summed over its shards."""
    results = flow.post("/count", DocumentArray(), return_responses=True)[0].parameters["__results__"]
    return sum(result["count"] for name, result in results.items() if name.startswith("index/"))


def assert_same_searches(deployed, embedded, queries: dict) -> None:
    for key, text in queries.items():
        remote = deployed.post("/search", Document(id=key, text=text), parameters={"limit": 3})
        local = embedded.post("/search", Document(id=key, text=text), parameters={"limit": 3})
        assert remote[0].matches, f"{text!r} finds nothing: the comparison would prove nothing"
        assert wire(remote) == wire(local)


@pytest.fixture
def embedded(tmp_path):
    flow = Flow.load_config(FLOW)
    flow.workspace = str(tmp_path / "workspace")
    with flow:
        yield flow


def test_the_deployed_flow_indexes_and_searches_as_the_embedded_one(deployed_flow, embedded):
    before = indexed(deployed_flow)
    assert wire(deployed_flow.post("/index", documents(TEXTS))) == wire(embedded.post("/index", documents(TEXTS)))
    assert indexed(deployed_flow) - before == indexed(embedded) == len(TEXTS)
    assert_same_searches(deployed_flow, embedded, QUERIES)


def test_a_file_indexed_in_batch_is_found_as_in_process(deployed_flow, embedded, tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text("".join(json.dumps({"id": key, "text": text}) + "\\n" for key, text in BATCH.items()))
    remote, local = deployed_flow.index_file(path), index_file(embedded, str(path))
    assert remote["docs_indexed"] == local["docs_indexed"] == len(BATCH)
    assert remote["docs_failed"] == local["docs_failed"] == 0
    assert_same_searches(deployed_flow, embedded, BATCH_QUERIES)
''',
}


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"a project name starts with a letter and has only letters, digits, '-' and '_': {name!r}")


def check_free(root: Path) -> None:
    """Refuse to write over anything: the folder must not exist, or be empty."""
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} already exists and is not empty")


def write_files(root: Path, name: str) -> None:
    for relative, text in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace(PLACEHOLDER, name))


def _is_project_module(name: str) -> bool:
    return name.partition(".")[0] in PACKAGES


@contextmanager
def project_imports(root: Path) -> Iterator[None]:
    """Import the project's packages from ``root``, and forget them afterwards: the calling
    process may hold a ``functions`` package of its own (faasflow's reference app, a project
    made before), which must neither be used for this project nor be replaced by it."""
    saved_path = list(sys.path)
    theirs = {name: sys.modules.pop(name) for name in list(sys.modules) if _is_project_module(name)}
    sys.path.insert(0, str(root.resolve()))
    importlib.invalidate_caches()  # the files are seconds old: let the import system see them
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for name in [name for name in sys.modules if _is_project_module(name)]:
            del sys.modules[name]
        sys.modules.update(theirs)


def build(root: Path) -> list[Path]:
    """What ``faasflow build orchestrator/flow.yml`` writes (template.yaml, the state machines,
    the layer folders), so that the project is deployable, and ``build --check`` passes, as made."""
    from faasflow.deploy.layers import write
    from faasflow.flow import Flow

    with project_imports(root):
        flow = Flow.load_config(root / FLOW_FILE).build()
        return write(flow.plan, root)


def remove(root: Path, created: bool) -> None:
    """Take back what a failed scaffold wrote: the folder it made, or what it put in an empty one."""
    if created:
        shutil.rmtree(root, ignore_errors=True)
        return
    for path in list(root.iterdir()):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def scaffold(name: str, parent: Path = Path(".")) -> Path:
    """Write and build the project ``parent/name`` (which must not exist, or be empty);
    returns its path. Fails whole: a build that fails leaves no half-made project."""
    check_name(name)
    root = Path(parent) / name
    check_free(root)
    created = not root.exists()
    try:
        write_files(root, name)
        build(root)
    except BaseException as exc:
        remove(root, created)
        if isinstance(exc, Exception):
            raise failure(name, exc) from exc
        raise
    return root


def failure(name: str, exc: Exception) -> FaasflowError:
    """One line that says what failed and why (the CLI prints a FaasflowError as it is)."""
    detail = str(exc) if isinstance(exc, FaasflowError) else f"{type(exc).__name__}: {exc}"
    first = detail.strip().splitlines()[0] if detail.strip() else type(exc).__name__
    return FaasflowError(f"could not make the project {name!r} (nothing of it was left): {first}")
