"""A floor made of the executors' own methods, called in a plain loop: no Flow, no threads,
no copies, shards one after another. Both sharded-search variants measure against one
(bench/sharded_search.py's plain floor, bench/jina_style.py's ``methods``); each says how
it queries."""

from __future__ import annotations

from typing import Any

from faasflow import Document, DocumentArray
from faasflow.request import batches
from faasflow.sharding import shard_of

SHARDS = 3
REQUEST_SIZE = 100


class MethodsFloor:
    """The featurizer, ``SHARDS`` stores (shard ids 0, 1, 2 of executor ``db``) and the
    ranker, made directly; ``index`` featurizes each batch and hands every store its part."""

    name = "floor"

    def __init__(self, workspace: str, featurizer: type, store: type, ranker: type):
        self.featurizer = featurizer(workspace=workspace)
        self.stores = [store(workspace=workspace, runtime_args={"name": "db", "shard_id": s}) for s in range(SHARDS)]
        self.ranker = ranker(workspace=workspace)

    def __enter__(self) -> MethodsFloor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def featurize(self, docs: DocumentArray) -> Any:
        return self.featurizer.featurize(docs=docs)

    def index(self, docs: list[Document]) -> None:
        for batch in batches([d.copy() for d in docs], REQUEST_SIZE):
            self.featurize(batch)
            parts: list[list[Document]] = [[] for _ in range(SHARDS)]
            for doc in batch:
                parts[shard_of(doc.id, SHARDS)].append(doc)
            for store, part in zip(self.stores, parts):
                store.index(docs=DocumentArray(part))
