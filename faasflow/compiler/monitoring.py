"""Alarms, their SNS topic and a CloudWatch dashboard, rendered from the Deployment.

What a team needs to know a deployed Flow is broken, from what AWS and the functions already
publish, with no agent to run:

* per executor function: errors, throttles and p99 duration against its timeout (AWS/Lambda);
* per state machine: failed and timed-out executions (AWS/States);
* the API's 5xx rate and p99 latency (AWS/ApiGateway);
* per VectorIndexer shard: the queries' similarity to the indexed centroid, relative to the
  indexed data's own (the EMF metrics of ``faasflow.executors.drift``);
* every alarm notifies one SNS topic, which an ``AlarmEmail`` parameter subscribes to;
* a dashboard with the API and state machine on top and one row per stage, from the EMF
  metrics every hop emits (``DocsProcessed``, ``HopLatency``, ``ExecutorErrors``).

The errors and throttles alarms of each executor function are also what CodeDeploy watches
during a gradual deploy (``faasflow.rollout``): those are rendered whenever a rollout is set,
even with ``monitoring: false``, since a rollback needs them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from faasflow.compiler.intrinsics import Not, Ref, equals, not_, ref, sub
from faasflow.compiler.model import Deployment, ImageFunction, StateMachine, ZipFunction
from faasflow.executors.drift import (
    DRIFT_NAMESPACE,
    INDEX_SIMILARITY_METRIC,
    QUERY_SIMILARITY_METRIC,
    SIMILARITY_RATIO_METRIC,
)
from faasflow.metric_names import NAMESPACE, SHARD_ERRORS_METRIC

Resource = dict[str, Any]
TOPIC_ID = "AlarmTopic"
EMAIL_PARAMETER = "AlarmEmail"
EMAIL_CONDITION = "HasAlarmEmail"
SUBSCRIPTION_ID = "AlarmEmailSubscription"
DASHBOARD_ID = "FlowDashboard"
API_STAGE = "Prod"

MINUTE = 60
DURATION_SHARE = 0.8  # p99 duration alarm: at 80% of the function's timeout, before it times out
API_5XX_RATE = 0.05  # the API's 5xx alarm: more than 5% of its answers in five minutes
GATEWAY_TIMEOUT_MS = 29_000  # API Gateway's integration timeout: the p99 latency alarm is at 80% of it
# drift: the queries' mean similarity to the centroid below 80% of the indexed data's own, for 15 minutes
DRIFT_RATIO = 0.8
DRIFT_PERIODS = 3


def errors_alarm_id(function_id: str) -> str:
    return f"{function_id}ErrorsAlarm"


def throttles_alarm_id(function_id: str) -> str:
    return f"{function_id}ThrottlesAlarm"


def executor_errors_alarm_id(function_id: str) -> str:
    return f"{function_id}ExecutorErrorsAlarm"


def rollback_alarms(function_id: str) -> list[Ref]:
    """The alarms CodeDeploy watches while it shifts this function's alias: a failed or
    throttled invocation, and an executor that raised (an invocation that succeeds)."""
    return [ref(errors_alarm_id(function_id)), ref(throttles_alarm_id(function_id)),
            ref(executor_errors_alarm_id(function_id))]


def sub_literal(text: str) -> str:
    """``text`` inside a Fn::Sub, kept literally (``${`` written as ``${!``)."""
    return text.replace("${", "${!")


def _alarm(description: str, actions: bool, **properties: Any) -> Resource:
    notify = {"AlarmActions": [ref(TOPIC_ID)], "OKActions": [ref(TOPIC_ID)]} if actions else {}
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "TreatMissingData": "notBreaching",  # no traffic is not an incident
            **notify,
            **properties,
        },
    }


def _count_alarm(description: str, actions: bool, namespace: str, metric: str, dimensions: list[dict[str, Any]],
                 threshold: float = 1, period: int = MINUTE, statistic: str = "Sum") -> Resource:
    return _alarm(description, actions, Namespace=namespace, MetricName=metric, Dimensions=dimensions,
                  Statistic=statistic, Period=period, EvaluationPeriods=1, Threshold=threshold,
                  ComparisonOperator="GreaterThanOrEqualToThreshold")


def function_alarms(deployment: Deployment, function: ZipFunction | ImageFunction, actions: bool,
                    duration: bool) -> Iterator[tuple[str, Resource]]:
    """Failed and throttled invocations and executor errors (the rollback alarms), and p99
    duration against the timeout."""
    name = function.executor + (f" shard {function.shard}" if function.shards > 1 else "")
    dimensions = [{"Name": "FunctionName", "Value": ref(function.logical_id)}]
    yield errors_alarm_id(function.logical_id), _count_alarm(
        f"executor {name}: a Lambda invocation failed", actions, "AWS/Lambda", "Errors", dimensions)
    yield throttles_alarm_id(function.logical_id), _count_alarm(
        f"executor {name}: Lambda throttled an invocation", actions, "AWS/Lambda", "Throttles", dimensions)
    yield executor_errors_alarm_id(function.logical_id), _count_alarm(
        f"executor {name}: the executor raised on a request (not a caller's mistake)", actions, NAMESPACE,
        SHARD_ERRORS_METRIC, shard_dimensions(deployment, function.executor, function.shard))
    if duration:
        threshold_ms = round(function.timeout * 1000 * DURATION_SHARE)
        yield f"{function.logical_id}DurationAlarm", _alarm(
            f"executor {name}: p99 duration at {DURATION_SHARE:.0%} of its {function.timeout} s timeout", actions,
            Namespace="AWS/Lambda", MetricName="Duration", Dimensions=dimensions, ExtendedStatistic="p99",
            Period=5 * MINUTE, EvaluationPeriods=1, Threshold=threshold_ms,
            ComparisonOperator="GreaterThanOrEqualToThreshold")


def machine_alarms(machine: StateMachine) -> Iterator[tuple[str, Resource]]:
    dimensions = [{"Name": "StateMachineArn", "Value": ref(machine.logical_id)}]
    kind = "request" if machine.type == "EXPRESS" else "batch run"
    yield f"{machine.logical_id}FailedAlarm", _count_alarm(
        f"state machine {machine.logical_id}: a {kind} failed", True, "AWS/States", "ExecutionsFailed", dimensions)
    yield f"{machine.logical_id}TimedOutAlarm", _count_alarm(
        f"state machine {machine.logical_id}: a {kind} timed out", True, "AWS/States", "ExecutionsTimedOut",
        dimensions)


def api_dimensions() -> list[dict[str, Any]]:
    return [{"Name": "ApiName", "Value": ref("AWS::StackName")}, {"Name": "Stage", "Value": API_STAGE}]


def api_alarms() -> Iterator[tuple[str, Resource]]:
    yield "ApiServerErrorsAlarm", _count_alarm(
        f"the API answered more than {API_5XX_RATE:.0%} of requests with a 5xx in five minutes", True,
        "AWS/ApiGateway", "5XXError", api_dimensions(), threshold=API_5XX_RATE, period=5 * MINUTE,
        statistic="Average")
    threshold_ms = round(GATEWAY_TIMEOUT_MS * DURATION_SHARE)
    yield "ApiLatencyAlarm", _alarm(
        f"the API's p99 latency at {DURATION_SHARE:.0%} of API Gateway's 29 s timeout", True,
        Namespace="AWS/ApiGateway", MetricName="Latency", Dimensions=api_dimensions(), ExtendedStatistic="p99",
        Period=5 * MINUTE, EvaluationPeriods=1, Threshold=threshold_ms,
        ComparisonOperator="GreaterThanOrEqualToThreshold")


def shard_dimensions(deployment: Deployment, executor: str, shard: int) -> list[dict[str, str]]:
    """The EMF dimensions of one shard's own metrics (its errors; a VectorIndexer's similarities)."""
    return [{"Name": "service", "Value": deployment.name}, {"Name": "executor", "Value": executor},
            {"Name": "shard", "Value": str(shard)}]


def drift_alarm(deployment: Deployment, function: ZipFunction | ImageFunction) -> Resource:
    """Queries no longer look like the index: their similarity to the centroid, over the indexed data's."""
    return _alarm(
        f"executor {function.executor} shard {function.shard}: queries' similarity to the indexed centroid under "
        f"{DRIFT_RATIO:.0%} of the indexed data's own for {DRIFT_PERIODS * 5} minutes (embedding drift)", True,
        Namespace=DRIFT_NAMESPACE, MetricName=SIMILARITY_RATIO_METRIC,
        Dimensions=shard_dimensions(deployment, function.executor, function.shard), Statistic="Average",
        Period=5 * MINUTE, EvaluationPeriods=DRIFT_PERIODS, Threshold=DRIFT_RATIO,
        ComparisonOperator="LessThanThreshold")


def notification_resources() -> Iterator[tuple[str, Resource]]:
    yield TOPIC_ID, {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": sub("faasflow ${AWS::StackName} alarms")}}
    yield SUBSCRIPTION_ID, {
        "Type": "AWS::SNS::Subscription",
        "Condition": EMAIL_CONDITION,
        "Properties": {"TopicArn": ref(TOPIC_ID), "Protocol": "email", "Endpoint": ref(EMAIL_PARAMETER)},
    }


def alarm_resources(deployment: Deployment) -> Iterator[tuple[str, Resource]]:
    """Every alarm of the deployment (only the rollback alarms with ``monitoring: false``)."""
    monitored = deployment.monitoring
    for function in deployment.functions:
        if monitored or deployment.rollout is not None:
            yield from function_alarms(deployment, function, actions=monitored, duration=monitored)
    if not monitored:
        return
    yield from machine_alarms(deployment.machine)
    yield from machine_alarms(deployment.batch_machine)
    yield from api_alarms()
    for function in deployment.functions:
        if function.executor in deployment.drift_executors:
            yield f"{function.logical_id}DriftAlarm", drift_alarm(deployment, function)


# --- the dashboard ---

WIDTH = 24


def search_term(text: str) -> str:
    """A name inside a SEARCH expression's quoted term, itself inside the expression's single
    quotes: backslash-escaped, so that a quote in an executor's name cannot end either."""
    return sub_literal(text.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'"))


def _search(deployment: Deployment, metric: str, executor: str, stat: str, label: str) -> dict[str, Any]:
    query = (f"{{{NAMESPACE},endpoint,executor,service}} MetricName=\"{metric}\" "
             f"executor=\"{search_term(executor)}\" service=\"{search_term(deployment.name)}\"")
    return {"expression": f"SEARCH('{query}', '{stat}', 60)", "label": label}


def _widget(title: str, metrics: list[Any], x: int, y: int, width: int, stat: str = "Sum") -> dict[str, Any]:
    return {"type": "metric", "x": x, "y": y, "width": width, "height": 6,
            "properties": {"title": title, "region": "${AWS::Region}", "stat": stat, "period": 60,
                           "view": "timeSeries", "metrics": metrics}}


def dashboard_widgets(deployment: Deployment) -> list[dict[str, Any]]:
    """The API and the Express machine on top, then one row per stage (its hops and its functions)."""
    api = [["AWS/ApiGateway", name, "ApiName", "${AWS::StackName}", "Stage", API_STAGE]
           for name in ("Count", "5XXError", "4XXError")]
    machine = [["AWS/States", name, "StateMachineArn", f"${{{deployment.machine.logical_id}}}"]
               for name in ("ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut")]
    widgets = [
        _widget("API requests and errors", api, 0, 0, 8),
        _widget("API latency p50 / p99", [
            ["AWS/ApiGateway", "Latency", "ApiName", "${AWS::StackName}", "Stage", API_STAGE, {"stat": "p50"}],
            ["...", {"stat": "p99"}]], 8, 0, 8, stat="p99"),
        _widget("Requests through the state machine", machine, 16, 0, 8),
    ]
    executors = list(dict.fromkeys(f.executor for f in deployment.functions))
    row = 1
    for executor in executors:
        y, title = row * 6, sub_literal(executor)
        row += 2 if executor in deployment.drift_executors else 1
        functions = [f for f in deployment.functions if f.executor == executor]
        lambda_metrics = [["AWS/Lambda", name, "FunctionName", f"${{{f.logical_id}}}"]
                          for f in functions for name in ("Errors", "Throttles")]
        widgets += [
            _widget(f"{title}: docs processed", [[_search(deployment, "DocsProcessed", executor, "Sum", "docs")]],
                    0, y, 6),
            _widget(f"{title}: hop latency p50 / p99 (ms)", [
                [_search(deployment, "HopLatency", executor, "p50", "p50")],
                [_search(deployment, "HopLatency", executor, "p99", "p99")]], 6, y, 6, stat="p99"),
            _widget(f"{title}: executor errors", [[_search(deployment, "ExecutorErrors", executor, "Sum",
                                                              "errors")]], 12, y, 6),
            _widget(f"{title}: Lambda errors and throttles", lambda_metrics, 18, y, 6),
        ]
        if executor in deployment.drift_executors:
            drift = [[DRIFT_NAMESPACE, name, "service", sub_literal(deployment.name), "executor", title,
                      "shard", str(f.shard)]
                     for f in functions
                     for name in (QUERY_SIMILARITY_METRIC, INDEX_SIMILARITY_METRIC, SIMILARITY_RATIO_METRIC)]
            widgets.append(_widget(f"{title}: query vs indexed similarity to the centroid", drift, 0,
                                   y + 6, WIDTH, stat="Average"))
    return widgets


def dashboard(deployment: Deployment) -> Resource:
    """The body is Fn::Sub text: its ``${AWS::...}`` and ``${<logical id>}`` are filled in at
    deploy time; names from the Flow were written with sub_literal, so they stay as written."""
    body = json.dumps({"widgets": dashboard_widgets(deployment)}, separators=(",", ":"))
    return {"Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardName": sub("${AWS::StackName}"), "DashboardBody": sub(body)}}


def monitoring_resources(deployment: Deployment) -> Iterator[tuple[str, Resource]]:
    """The alarms, and with monitoring on, the topic, its subscription and the dashboard."""
    if deployment.monitoring:
        yield from notification_resources()
    yield from alarm_resources(deployment)
    if deployment.monitoring:
        yield DASHBOARD_ID, dashboard(deployment)


def email_parameter() -> dict[str, Any]:
    return {
        "Type": "String",
        "Default": "",
        "AllowedPattern": r"^$|^[^@\s]+@[^@\s]+$",
        "Description": "an email address the Flow's alarms are sent to (empty: none; subscribe to AlarmTopic)",
    }


def email_condition() -> Not:
    return not_(equals(ref(EMAIL_PARAMETER), ""))

