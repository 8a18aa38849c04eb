"""DocStore: keeps its shard's documents and answers nearest-neighbour queries by jaccard.

The work is done by a ``VectorIndexer`` (faasflow's durable index shard) by jaccard:
documents live in the executor's storage (a folder embedded, an S3 prefix on AWS) as
immutable segments listed by a manifest, so any container, warm or cold, sees every
write, and a warm one loads only segments it lacks. DocStore keeps the reference app's
endpoints: ``/index``, ``/count``, and ``/query``, which answers with the first query's
hits themselves (the ranker then orders the shards' hits).
"""

from __future__ import annotations

from typing import Any

from faasflow import DocumentArray, Executor, requests
from faasflow.executors import SEARCH_PARAMETERS
from faasflow.executors.vector_indexer import VectorIndexer

DEFAULT_LIMIT = 3


class DocStore(Executor):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.indexer = VectorIndexer(
            metric="jaccard",
            limit=DEFAULT_LIMIT,
            runtime_args=vars(self.runtime_args),  # the same name and shard: the same storage
            metas={"name": self.runtime_args.name},
        )

    def check_request(self, endpoint: str, docs: DocumentArray, parameters: dict[str, Any]) -> None:
        """The index's checks on the whole request, before any shard writes (a request with
        one bad doc stores nothing anywhere); ``/query`` searches with its first doc only."""
        if endpoint == "/index":
            self.indexer.check_request("/index", docs, parameters)
        elif endpoint == "/query":
            self.indexer.check_request("/search", DocumentArray._wrap(docs._docs[:1]), parameters)

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs: Any) -> None:
        """Upsert by id: re-indexing a document replaces it."""
        self.indexer.index(docs)

    @requests(on="/query", parameters=SEARCH_PARAMETERS)
    def query(self, docs: DocumentArray, parameters: dict | None = None, **kwargs: Any) -> DocumentArray:
        """The first query's nearest documents, best first: they replace the docs."""
        if not docs:
            return DocumentArray()
        first = DocumentArray._wrap([docs[0]])
        self.indexer.search(first, parameters or {})
        return first[0].matches

    @requests(on="/count")
    def count(self, **kwargs: Any) -> dict:
        return self.indexer.count()
