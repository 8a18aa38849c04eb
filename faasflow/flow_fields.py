"""The option names a Flow and its executors take, in a module of their own so that the
Flow and its YAML reader can both check them without importing each other."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from faasflow.errors import FlowConfigError

logger = logging.getLogger("faasflow.flow")

ADD_FIELDS = ("uses", "name", "uses_with", "shards", "polling", "needs", "replicas",
              "memory", "timeout", "package", "gpu", "py_modules", "uses_before", "uses_after",
              "disable_reduce", "uses_requests")
# Jina deployment options about processes, ports and networks, which an in-process or
# Lambda executor does not have: accepted with a warning naming them, so that a Jina Flow
# runs unchanged and its author knows what was set aside.
JINA_DEPLOYMENT_OPTIONS = frozenset({
    "port", "host", "env", "env_from_secret", "timeout_ready", "timeout_send", "install_requirements",
    "gpus", "quiet", "quiet_error", "log_config", "retries", "tls", "grpc_server_options",
    "prefetch", "monitoring", "port_monitoring", "tracing", "protocol", "description",
})
# Jina options that change what a Flow does and that faasflow does not do: refused when
# set (a false or empty value, Jina's default, is accepted), each with the reason.
JINA_REFUSED = MappingProxyType({
    "when": "conditional routing by a document filter is not supported; branch inside an executor instead",
    "uses_metas": "an executor's metas.name is its name in the Flow here; set name= (and uses_with for the rest)",
    "uses_dynamic_batching": "requests are not batched across callers (each Lambda invocation runs alone); "
                             "send larger requests (request_size) instead",
    "floating": "every executor's output reaches the answer here; a floating executor is not supported",
    "exit_on_exceptions": "an executor's process is not restarted on errors here (Lambda replaces "
                          "failing containers itself)",
    "stateful": "Jina's replicated (RAFT) executors are not supported; state lives in the executor's storage",
    "external": "an executor running outside the Flow cannot be reached; give its class in uses",
    "workspace": "executors share the Flow's workspace (Flow(workspace=...)); on AWS their state is in the bucket",
})
# Every Jina option a Flow accepts besides its own fields (kept under its old name).
JINA_IGNORED = JINA_DEPLOYMENT_OPTIONS | frozenset(JINA_REFUSED)
# The top level of a Flow file, as Jina writes it; ``gateway:`` (Jina's gateway deployment
# options) means nothing here and is ignored, like JINA_IGNORED.
TOP_LEVEL_KEYS = ("jtype", "version", "with", "executors")
JINA_TOP_LEVEL_IGNORED = frozenset({"gateway"})
FLOW_FIELDS = ("name", "protocol", "port", "host", "workspace", "auth", "tracing", "idempotency_ttl_s", "runtime",
               "deploy", "monitoring")
# Jina Flow() options about the gateway: those that only describe it are warned about, as
# deployment options are; those that change what it does are refused when set.
JINA_GATEWAY_DESCRIPTIVE = frozenset({"title", "no_debug_endpoints"})
JINA_GATEWAY_REFUSED = MappingProxyType({
    "cors": "the gateway sends no CORS headers; on AWS configure CORS on the API (or put a proxy in front)",
    "uses": "the gateway is faasflow's own (local HTTP, API Gateway on AWS); a custom gateway is not supported",
})
JINA_FLOW_IGNORED = JINA_GATEWAY_DESCRIPTIVE | frozenset(JINA_GATEWAY_REFUSED)


def check_protocol(protocol: object) -> None:
    """Refuse any protocol but HTTP(S): the one gateway faasflow has."""
    if protocol is not None and str(protocol).lower() not in ("http", "https"):
        raise FlowConfigError(f"faasflow serves HTTP; protocol {protocol!r} is not supported", field="protocol")


def check_jina_options(options: Mapping[str, Any], executor: str | None = None) -> None:
    """Refuse a refused Jina option that is set (naming the executor, the option and why),
    and warn about the deployment and descriptive options given. An executor's options are
    checked against JINA_REFUSED, the Flow's also against JINA_GATEWAY_REFUSED."""
    refused = JINA_REFUSED if executor is not None else {**JINA_REFUSED, **JINA_GATEWAY_REFUSED}
    for option in sorted(set(options) & set(refused)):
        if options[option] not in (None, False, "", [], {}, ()):
            raise FlowConfigError(f"Jina's {option}={options[option]!r} is not supported: {refused[option]}",
                                  executor=executor, field=option)
    warned = JINA_DEPLOYMENT_OPTIONS if executor is not None else JINA_DEPLOYMENT_OPTIONS | JINA_GATEWAY_DESCRIPTIVE
    deployment = sorted(set(options) & warned)
    if deployment:
        where = f"executor {executor!r}" if executor else "Flow"
        logger.warning("%s: Jina deployment option(s) %s mean nothing in-process or on Lambda; ignored",
                       where, ", ".join(deployment))
