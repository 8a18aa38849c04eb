"""Embedding drift: how much a shard's queries still look like what it indexed.

Per query batch, a shard measures the mean cosine similarity of the queries to the centroid
of its live embeddings (``QueryCentroidSimilarity``) beside the mean cosine similarity of
those embeddings themselves to it (``IndexCentroidSimilarity``). Queries drawn like the data
score about the index's value; queries from elsewhere score clearly lower, so the ratio
query/index is the simplest honest signal that the queries no longer look like the index.

Where it goes: in a Lambda function, EMF metrics through Powertools (namespace ``faasflow``,
dimensions ``service``, ``executor``, ``shard``), both in one record per batch; locally, the
gauges a served Flow's ``/metrics`` shows (``faasflow.serve.metrics``); everywhere, the
executor's ``status()``. A batch with no defined similarity (an empty shard, embeddings that
cancel out, only zero vectors) emits nothing, and the status says why.

The names are constants here for the CloudWatch alarm the compiler renders
(``faasflow.compiler.monitoring``): importing them loads neither numpy nor the index.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faasflow.metric_names import NAMESPACE

if TYPE_CHECKING:
    import numpy as np

    from faasflow.index.stats import EmbeddingStats

DRIFT_NAMESPACE = NAMESPACE
QUERY_SIMILARITY_METRIC = "QueryCentroidSimilarity"
INDEX_SIMILARITY_METRIC = "IndexCentroidSimilarity"
# query / index of the same batch: what the template's drift alarm watches, as a plain metric
# (a metric-math alarm would do the division, but emulators refuse those)
SIMILARITY_RATIO_METRIC = "QueryToIndexSimilarity"
RECENT_BATCHES = 20
"""``query_similarity`` in a status is the plain mean of the last this-many measured batches'
values (each batch counts once, as each is one EMF datapoint for CloudWatch's average)."""
NOT_YET = "no query batch has been measured yet"

logger = logging.getLogger("faasflow.drift")


def on_lambda() -> bool:
    """Whether this process is a Lambda function's (where EMF on stdout becomes metrics)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


@dataclass(frozen=True)
class DriftReading:
    """One shard's figures, as a status or a metrics scrape shows them."""

    executor: str
    shard: int
    query_similarity: float | None  # the mean of the recent batches' values
    index_similarity: float | None
    query_batches: int  # batches measured since this process started
    note: str | None = None  # why a figure is missing

    def report(self) -> dict[str, Any]:
        """The keys an executor's ``status()`` adds."""
        found: dict[str, Any] = {"index_similarity": _rounded(self.index_similarity),
                                 "query_similarity": _rounded(self.query_similarity),
                                 "query_batches": self.query_batches}
        if self.note is not None:
            found["drift_note"] = self.note
        return found


class DriftMonitor:
    """One shard's drift: measures each query batch, keeps the recent values, emits EMF
    when running in Lambda (``emit``; default: when ``AWS_LAMBDA_FUNCTION_NAME`` is set)."""

    def __init__(self, executor: str, shard: int, recent: int = RECENT_BATCHES, emit: bool | None = None):
        self.executor, self.shard = executor, shard
        self.emit = on_lambda() if emit is None else emit
        self._recent: deque[float] = deque(maxlen=max(int(recent), 1))
        self._batches = 0
        self._seen = False
        self._index: float | None = None
        self._note: str | None = None
        self._lock = threading.Lock()
        self._metrics: Any = None

    @property
    def seen(self) -> bool:
        """Whether any query batch came (measured or not)."""
        return self._seen

    def observe(self, queries: np.ndarray, stats: EmbeddingStats | None) -> tuple[float, float] | None:
        """Measure one batch against the shard's sums: ``(query, index)`` similarities, or
        None (the reason is kept for the status) when either is undefined."""
        from faasflow.index.stats import NoCentroid, mean_cosine

        index = None
        try:
            if stats is None:
                raise NoCentroid("the shard's embeddings are not loaded")
            index = stats.similarity()
            query = mean_cosine(queries, stats.direction())
        except NoCentroid as exc:
            with self._lock:  # the index's value stays only if it was the queries that had none
                self._seen, self._note, self._index = True, str(exc), index
            return None
        with self._lock:
            self._seen, self._note, self._index = True, None, index
            self._recent.append(query)
            self._batches += 1
        if self.emit:
            self._emit(query, index)
        return query, index

    def reading(self, stats: EmbeddingStats | None = None) -> DriftReading:
        """The figures now; ``stats`` (the shard's current sums) refreshes the index's value,
        else it is the one of the last measured batch."""
        from faasflow.index.stats import NoCentroid

        with self._lock:
            recent = list(self._recent)
            batches, index, note = self._batches, self._index, self._note
        if stats is not None:
            try:
                index = stats.similarity()
            except NoCentroid as exc:
                index, note = None, str(exc)
        query = sum(recent) / len(recent) if recent else None
        if note is None and (query is None or index is None):
            note = NOT_YET
        return DriftReading(self.executor, self.shard, query, index, batches, note)

    def _emit(self, query: float, index: float) -> None:
        """One EMF record with both values. Powertools' ephemeral metrics keep their own
        dimensions, apart from the hop metrics that share the same output."""
        try:
            metrics = self._metrics
            if metrics is None:
                from aws_lambda_powertools.metrics import EphemeralMetrics

                service = os.environ.get("POWERTOOLS_SERVICE_NAME", "faasflow")
                metrics = self._metrics = EphemeralMetrics(namespace=DRIFT_NAMESPACE, service=service)
            from aws_lambda_powertools.metrics import MetricUnit

            metrics.add_dimension(name="executor", value=self.executor)
            metrics.add_dimension(name="shard", value=str(self.shard))
            metrics.add_metric(name=QUERY_SIMILARITY_METRIC, unit=MetricUnit.NoUnit, value=query)
            metrics.add_metric(name=INDEX_SIMILARITY_METRIC, unit=MetricUnit.NoUnit, value=index)
            if index > 0:  # a ratio to a non-positive similarity says nothing
                metrics.add_metric(name=SIMILARITY_RATIO_METRIC, unit=MetricUnit.NoUnit, value=query / index)
            metrics.flush_metrics()
        except ImportError:
            self.emit = False  # no Powertools in this function: nothing to emit with
            logger.warning("embedding drift not emitted: aws_lambda_powertools is not installed")
        except Exception:  # noqa: BLE001 - a metric must never fail the search it measures
            logger.exception("embedding drift not emitted")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
