"""The sharded search written the way Jina users write executors, on faasflow, and its floor.

* ``JinaStyleFeaturizer``: an ``async`` endpoint that embeds every doc (feature hashing);
* ``JinaStyleStore``: keeps its docs in a DocumentArray, writes each ``/index`` request
  durably as one segment (``SegmentLog``: the segment, then the manifest swap), and answers
  a query by building a match Document, scored, for each of its ``LIMIT`` (20) nearest docs
  by jaccard; every query first reads the manifest, as a durable store must;
* ``JinaStyleRanker``: sorts each query's matches (the shards', merged by the engine) best
  first, cut to ``parameters['limit']`` when one is given.

Three shards, ``/index`` ANY, ``/query`` ALL. ``bench/jina_sharded_search.py --variant
jina-style`` runs the same executors on Jina (only the imports differ), and ``JinaStyleFloor``
below runs the same featurize, write and search code directly on tuples, shards in sequence.
``JinaStyleMethods`` calls the executors' own methods in a plain loop, as the plain
variant's floor does: the Documents the executors build are the user's code, so what
faasflow adds beyond it is the framework's own share.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from bench.methods_floor import REQUEST_SIZE, SHARDS, MethodsFloor
from faasflow import Document, DocumentArray, Executor, Flow, requests
from faasflow.codec import array_to_dict, dumps
from faasflow.columns import EmbeddingColumn
from faasflow.features import feature_hashing
from faasflow.search import score_matrix, top_k
from faasflow.sharding import shard_of
from faasflow.storage.local import LocalStorage
from faasflow.storage.segments import SegmentLog

N_DIM = 256
METRIC = "jaccard"
LIMIT = 20  # matches each shard builds per query


class JinaStyleFeaturizer(Executor):
    @requests
    async def featurize(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            doc.embedding = feature_hashing(doc, n_dim=N_DIM)


class JinaStyleStore(Executor):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._docs = DocumentArray()
        self._column: EmbeddingColumn | None = None  # the stacked embeddings, kept between queries
        self._log = SegmentLog(LocalStorage(Path(self.workspace) / "segments"))

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs: Any) -> None:
        if len(docs):
            self._log.append(docs.to_bytes())
        self._docs.extend(docs)
        self._column = None

    def _embeddings(self) -> EmbeddingColumn:
        if self._column is None:
            self._column = EmbeddingColumn(np.asarray(self._docs.embeddings))
        return self._column

    @requests(on="/query")
    def query(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> None:
        self._log.manifest()  # has another writer added a segment?
        if not len(self._docs):
            return
        limit = int(parameters.get("limit", LIMIT))
        column = self._embeddings()
        for doc in docs:
            scores = score_matrix(doc.embedding, column, METRIC)
            indices, values = top_k(scores, limit, METRIC)
            for position, value in zip(indices[0].tolist(), values[0].tolist()):
                stored = self._docs[position]
                match = Document(id=stored.id, text=stored.text)
                match.scores[METRIC].value = value
                doc.matches.append(match)


class JinaStyleRanker(Executor):
    @requests(on="/query")
    def rank(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> None:
        limit = parameters.get("limit")
        for doc in docs:
            ranked = sorted(doc.matches, key=lambda m: m.scores[METRIC].value)
            doc.matches = ranked[: int(limit)] if limit is not None else ranked


def build_flow(workspace: str) -> Flow:
    return (
        Flow(workspace=workspace)
        .add(name="featurizer", uses=JinaStyleFeaturizer)
        .add(name="db", uses=JinaStyleStore, shards=SHARDS, polling={"/query": "ALL", "/index": "ANY"})
        .add(name="ranker", uses=JinaStyleRanker)
    )


class JinaStyleFaasflow:
    """The Jina-style Flow, embedded."""

    name = "faasflow"

    def __init__(self, workspace: str):
        self.flow = build_flow(workspace)

    def __enter__(self) -> JinaStyleFaasflow:
        self.flow.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flow.close()

    def index(self, docs: list[Document]) -> None:
        self.flow.post("/index", docs, request_size=REQUEST_SIZE)

    def query(self, text: str) -> DocumentArray:
        return self.flow.post("/query", Document(text=text))

    @staticmethod
    def top_ids(answer: DocumentArray) -> list[str]:
        return answer[0].matches.ids if len(answer) else []


# --- the floor: the same code on tuples, no framework -------------------------------------


class Line(NamedTuple):
    """A corpus line as a tuple; ``tags`` is what feature hashing reads besides the text."""

    id: str
    text: str
    tags: Mapping[str, Any] = MappingProxyType({})


class FloorShard:
    """One shard's rows (id, text, embedding) and its segment log: the store's work, bare."""

    def __init__(self, folder: Path):
        self.log = SegmentLog(LocalStorage(folder))
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.rows: list[np.ndarray] = []
        self.column: EmbeddingColumn | None = None

    def add(self, rows: list[tuple[str, str, np.ndarray]]) -> None:
        # the wire form a DocumentArray's to_bytes() writes: id, text, embedding (base64 of its bytes)
        self.log.append(dumps([{"id": i, "text": t, "embedding": array_to_dict(e)} for i, t, e in rows]))
        for doc_id, text, embedding in rows:
            self.ids.append(doc_id)
            self.texts.append(text)
            self.rows.append(embedding)
        self.column = None

    def search(self, embedding: np.ndarray, limit: int) -> list[tuple[str, str, float]]:
        self.log.manifest()
        if not self.rows:
            return []
        if self.column is None:
            self.column = EmbeddingColumn(np.stack(self.rows))
        indices, values = top_k(score_matrix(embedding, self.column, METRIC), limit, METRIC)
        return [(self.ids[p], self.texts[p], v) for p, v in zip(indices[0].tolist(), values[0].tolist())]


class JinaStyleFloor:
    """Featurize, write and search called directly, shards one after another, tuples
    (id, text, score) for matches: what the Jina-style work itself costs."""

    name = "floor"

    def __init__(self, workspace: str):
        self.shards = [FloorShard(Path(workspace) / "db" / str(s) / "segments") for s in range(SHARDS)]

    def __enter__(self) -> JinaStyleFloor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def index(self, docs: list[Document]) -> None:
        lines = [Line(d.id, d.text) for d in docs]
        for start in range(0, len(lines), REQUEST_SIZE):
            parts: list[list[tuple[str, str, np.ndarray]]] = [[] for _ in range(SHARDS)]
            for line in lines[start : start + REQUEST_SIZE]:
                parts[shard_of(line.id, SHARDS)].append((line.id, line.text, feature_hashing(line, n_dim=N_DIM)))
            for shard, part in zip(self.shards, parts):
                if part:
                    shard.add(part)

    def query(self, text: str) -> list[tuple[str, str, float]]:
        embedding = feature_hashing(Line("", text), n_dim=N_DIM)
        hits: list[tuple[str, str, float]] = []
        for shard in self.shards:
            hits.extend(shard.search(embedding, LIMIT))
        hits.sort(key=itemgetter(2))
        return hits

    @staticmethod
    def top_ids(answer: list[tuple[str, str, float]]) -> list[str]:
        return [doc_id for doc_id, _, _ in answer]


# --- the executors' own methods in a plain loop: the user's code, no framework -----------


def finish(coro: Any) -> Any:
    """Run a coroutine that never waits to its end, without an event loop: the least an
    ``async`` method can cost its caller."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("the featurizer waited: this floor runs only coroutines that never wait")


class JinaStyleMethods(MethodsFloor):
    """The Jina-style executors' own methods called in a plain loop: no Flow, no copies, no
    merge (the three stores append their matches to the one query doc), shards in sequence."""

    name = "methods"

    def __init__(self, workspace: str):
        super().__init__(workspace, JinaStyleFeaturizer, JinaStyleStore, JinaStyleRanker)

    def featurize(self, docs: DocumentArray) -> None:
        finish(self.featurizer.featurize(docs=docs))

    def query(self, text: str) -> DocumentArray:
        request = DocumentArray([Document(text=text)])
        self.featurize(request)
        for store in self.stores:
            store.query(docs=request, parameters={})
        self.ranker.rank(docs=request, parameters={})
        return request

    @staticmethod
    def top_ids(answer: DocumentArray) -> list[str]:
        return answer[0].matches.ids if len(answer) else []
