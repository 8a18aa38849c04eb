"""Logs and metrics of each hop, with Powertools for AWS Lambda: a structured JSON log line
carrying the request id (the same id in every function a request crosses) and EMF
metrics (documents processed, hop latency) per executor and endpoint.

Powertools is imported when the first hop is observed, so a function that fails before
that pays nothing for it; without Powertools installed, hops are logged with ``logging``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from faasflow.metric_names import NAMESPACE, SHARD_ERRORS_METRIC


def docs_count(envelope: Mapping[str, Any]) -> int:
    ref = envelope.get("docs") or {}
    return len(ref["inline"]) if "inline" in ref else int(ref.get("count", 0))


class HopObserver:
    def __init__(self, executor: str, shard: int):
        self.executor, self.shard = executor, shard
        self.service = os.environ.get("POWERTOOLS_SERVICE_NAME", "faasflow")
        self._logger: Any = None
        self._metrics: Any = None

    def _tools(self) -> tuple[Any, Any]:
        if self._logger is None:
            try:
                from aws_lambda_powertools import Logger, Metrics
            except ImportError:
                self._logger, self._metrics = logging.getLogger(f"faasflow.hop.{self.executor}"), False
            else:
                self._logger = Logger(service=self.service)
                self._metrics = Metrics(namespace=NAMESPACE, service=self.service)
        return self._logger, self._metrics

    def hop(self, request: Mapping[str, Any], envelope: Mapping[str, Any], seconds: float) -> None:
        logger, metrics = self._tools()
        endpoint, request_id = request.get("endpoint"), request.get("request_id")
        error = envelope.get("error")
        fields = {"request_id": request_id, "executor": self.executor, "shard": self.shard, "endpoint": endpoint,
                  "docs_out": docs_count(envelope), "latency_ms": round(seconds * 1e3, 3),
                  "skipped": bool(envelope.get("skipped"))}
        refused = bool(error and error.get("bad_request"))  # the caller's mistake: no alarm on it
        if refused:
            logger.warning("request refused", extra={**fields, "error": error})
        elif error:
            logger.error("executor failed", extra={**fields, "error": error})
        else:
            logger.info("hop done", extra=fields)
        if metrics:
            from aws_lambda_powertools.metrics import MetricUnit

            metrics.add_dimension(name="executor", value=self.executor)
            metrics.add_dimension(name="endpoint", value=str(endpoint))
            metrics.add_metric(name="DocsProcessed", unit=MetricUnit.Count, value=fields["docs_out"])
            metrics.add_metric(name="HopLatency", unit=MetricUnit.Milliseconds, value=fields["latency_ms"])
            metrics.add_metric(name="ExecutorErrors", unit=MetricUnit.Count, value=1 if error and not refused else 0)
            metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1 if refused else 0)
            metrics.flush_metrics()
            # a second record, per shard and not per endpoint, so that one alarm per function can watch it
            metrics.add_dimension(name="executor", value=self.executor)
            metrics.add_dimension(name="shard", value=str(self.shard))
            metrics.add_metric(name=SHARD_ERRORS_METRIC, unit=MetricUnit.Count, value=1 if error and not refused else 0)
            metrics.flush_metrics()
