"""Prometheus metrics of the gateway: requests, errors and latency per endpoint, and calls,
errors and latency per executor stage.

Each app has its own registry, so that several apps in one process (tests, a notebook)
never collide. Only the Flow's named endpoints become label values: unknown endpoints share
one, and so do the endpoints a default binding serves, so that a scan of random paths
cannot grow the label set.

Embedding drift (``faasflow.executors.drift``) is read from the running executors when
``/metrics`` is scraped (``watch_drift``): the gauges ``faasflow_embedding_query_similarity``
(the recent batches' mean) and ``faasflow_embedding_index_similarity``, and the counter
``faasflow_embedding_query_batches_total``, labelled by executor and shard. So are what the
vector shards' searches did (``watch_search``): ``faasflow_search_queries_total``,
``faasflow_search_lists_probed_total``, ``faasflow_search_vectors_scanned_total`` and
``faasflow_search_bytes_read_total`` (from object storage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

UNKNOWN_ENDPOINT_LABEL = "(unknown)"
OTHER_ENDPOINT_LABEL = "(other)"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
QUERY_SIMILARITY_GAUGE = "faasflow_embedding_query_similarity"
INDEX_SIMILARITY_GAUGE = "faasflow_embedding_index_similarity"
QUERY_BATCHES_COUNTER = "faasflow_embedding_query_batches"


class DriftSample(Protocol):
    """One shard's drift figures (``faasflow.executors.drift.DriftReading`` is one)."""

    @property
    def executor(self) -> str: ...
    @property
    def shard(self) -> int: ...
    @property
    def query_similarity(self) -> float | None: ...
    @property
    def index_similarity(self) -> float | None: ...
    @property
    def query_batches(self) -> int: ...


class DriftCollector:
    """The drift families, read from ``samples()`` at each scrape: the executors keep the
    figures, so nothing is copied on the request path. A missing figure has no sample."""

    def __init__(self, samples: Callable[[], Iterable[DriftSample]]) -> None:
        self.samples = samples

    @staticmethod
    def _families() -> tuple[Any, Any, Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = ["executor", "shard"]
        return (
            GaugeMetricFamily(QUERY_SIMILARITY_GAUGE, "Mean cosine similarity of the recent query batches to the "
                              "shard's embedding centroid", labels=labels),
            GaugeMetricFamily(INDEX_SIMILARITY_GAUGE, "Mean cosine similarity of the shard's indexed embeddings "
                              "to their centroid", labels=labels),
            CounterMetricFamily(QUERY_BATCHES_COUNTER, "Query batches measured for embedding drift", labels=labels),
        )

    def describe(self) -> list[Any]:
        return list(self._families())  # the names alone: registering reads no executor

    def collect(self) -> list[Any]:
        query, index, batches = self._families()
        for sample in self.samples():
            labels = [sample.executor, str(sample.shard)]
            if sample.query_similarity is not None:
                query.add_metric(labels, sample.query_similarity)
            if sample.index_similarity is not None:
                index.add_metric(labels, sample.index_similarity)
            batches.add_metric(labels, sample.query_batches)
        return [query, index, batches]


SEARCH_COUNTERS = {
    "queries": ("faasflow_search_queries", "Queries searched"),
    "lists_probed": ("faasflow_search_lists_probed", "IVF lists probed, counted once per query"),
    "vectors_scanned": ("faasflow_search_vectors_scanned", "Vectors scored, counted once per query"),
    "bytes_read": ("faasflow_search_bytes_read", "Bytes of index read from object storage by searches"),
}


class SearchSample(Protocol):
    """One shard's search totals (``faasflow.executors.vector_indexer.SearchMetrics`` is one)."""

    @property
    def executor(self) -> str: ...
    @property
    def shard(self) -> int: ...
    @property
    def totals(self) -> dict[str, int]: ...


class SearchCollector:
    """The search counters, read from the shards' running totals at each scrape."""

    def __init__(self, samples: Callable[[], Iterable[SearchSample]]) -> None:
        self.samples = samples

    @staticmethod
    def _families() -> dict[str, Any]:
        from prometheus_client.core import CounterMetricFamily

        return {key: CounterMetricFamily(name, text, labels=["executor", "shard"])
                for key, (name, text) in SEARCH_COUNTERS.items()}

    def describe(self) -> list[Any]:
        return list(self._families().values())

    def collect(self) -> list[Any]:
        families = self._families()
        for sample in self.samples():
            totals = sample.totals
            for key, family in families.items():
                family.add_metric([sample.executor, str(sample.shard)], totals.get(key, 0))
        return list(families.values())


class GatewayMetrics:
    """The metric families, and cached label children for the hot path."""

    def __init__(self, endpoints: list[str]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("faasflow_requests", "Requests answered, by endpoint and HTTP status",
                                ["endpoint", "status"], registry=self.registry)
        self.errors = Counter("faasflow_request_errors", "Requests answered with an error, by endpoint and reason",
                              ["endpoint", "reason"], registry=self.registry)
        self.latency = Histogram("faasflow_request_duration_seconds", "Time to answer a request, by endpoint",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.executor_calls = Counter("faasflow_executor_calls", "Executor stages run, by executor and endpoint",
                                      ["executor", "endpoint"], registry=self.registry)
        self.executor_errors = Counter("faasflow_executor_errors", "Executor stages that raised",
                                       ["executor", "endpoint"], registry=self.registry)
        self.executor_latency = Histogram("faasflow_executor_duration_seconds",
                                          "Time in an executor stage (all its shards), by executor and endpoint",
                                          ["executor", "endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._children: dict[tuple[Any, ...], Any] = {}
        self._endpoints = frozenset(endpoints)

    def watch_drift(self, samples: Callable[[], Iterable[DriftSample]]) -> None:
        """Show the embedding drift ``samples()`` returns at each scrape (a backend whose
        executors run in this process calls it)."""
        self.registry.register(DriftCollector(samples))

    def watch_search(self, samples: Callable[[], Iterable[SearchSample]]) -> None:
        """Show the search totals ``samples()`` returns at each scrape."""
        self.registry.register(SearchCollector(samples))

    def endpoint_label(self, endpoint: str | None) -> str:
        if endpoint is None:
            return UNKNOWN_ENDPOINT_LABEL
        return endpoint if endpoint in self._endpoints else OTHER_ENDPOINT_LABEL

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(self, endpoint: str | None, status: int, seconds: float, reason: str | None = None) -> None:
        """One answered request; ``endpoint`` None for an endpoint the Flow does not serve."""
        label = self.endpoint_label(endpoint)
        self._child(self.requests, label, str(status)).inc()
        self._child(self.latency, label).observe(seconds)
        if reason is not None:
            self._child(self.errors, label, reason).inc()

    def observe_executor(self, executor: str, endpoint: str, seconds: float, failed: bool) -> None:
        endpoint = self.endpoint_label(endpoint)
        self._child(self.executor_calls, executor, endpoint).inc()
        self._child(self.executor_latency, executor, endpoint).observe(seconds)
        if failed:
            self._child(self.executor_errors, executor, endpoint).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
