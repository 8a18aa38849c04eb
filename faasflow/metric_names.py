"""The CloudWatch names faasflow's functions emit (EMF) and its template's alarms and
dashboard read: written once here, so that the run-time emitters and the build-time
compiler cannot drift apart."""

from __future__ import annotations

NAMESPACE = "faasflow"
# An executor's failure, per shard function (dimensions service, executor, shard): the Lambda
# invocation itself succeeds (the error travels in the envelope), so AWS/Lambda Errors never
# sees it; the template's per-function alarm watches this, a gradual deploy's rollback too.
SHARD_ERRORS_METRIC = "ShardErrors"
