"""MatchRanker: orders each query's matches best first and cuts them to ``limit``.

The shards' matches arrive merged already; ranking again here is where a re-ranker (a
cross-encoder, business rules) would go, and keeps the answer's order explicit.
"""

from __future__ import annotations

from faasflow import DocumentArray, Executor, requests
from faasflow.executors import SEARCH_PARAMETERS
from faasflow.executors.vector_indexer import parse_limit
from faasflow.sharding import sort_by_score


class MatchRanker(Executor):
    @requests(on=["/search", "/query"], parameters=SEARCH_PARAMETERS)
    def rank(self, docs: DocumentArray, parameters: dict, **kwargs) -> None:
        limit = parse_limit((parameters or {}).get("limit"), None)
        for doc in docs:
            doc.matches = sort_by_score(doc.matches, limit)
