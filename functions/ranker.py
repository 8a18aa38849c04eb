"""Ranker: orders the shards' merged answers best first by their score (jaccard, or the
metric the query asked the shards for)."""

from faasflow import DocumentArray, Executor, requests
from faasflow.executors import SEARCH_PARAMETERS
from faasflow.executors.vector_indexer import parse_limit
from faasflow.sharding import sort_by_score


class Ranker(Executor):
    @requests(on="/query", parameters=SEARCH_PARAMETERS)
    def rank(self, docs: DocumentArray, parameters: dict, **kwargs) -> DocumentArray:
        # the docs' own score decides the order: distances ascending, dot descending
        limit = parse_limit((parameters or {}).get("limit"), None)
        return DocumentArray(sort_by_score(docs, limit))
