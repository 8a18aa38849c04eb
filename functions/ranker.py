"""Ranker: orders the shards' merged answers best first by jaccard distance."""

from faasflow import DocumentArray, Executor, requests


class Ranker(Executor):
    @requests(on="/query")
    def rank(self, docs: DocumentArray, parameters: dict, **kwargs) -> DocumentArray:
        ranked = sorted(docs, key=lambda d: d.scores["jaccard"].value)
        limit = parameters.get("limit")
        return DocumentArray(ranked[: int(limit)] if limit is not None else ranked)
