"""The option names a Flow and its executors take, in a module of their own so that the
Flow and its YAML reader can both check them without importing each other."""

from __future__ import annotations

from faasflow.errors import FlowConfigError

ADD_FIELDS = ("uses", "name", "uses_with", "shards", "polling", "needs", "replicas",
              "memory", "timeout", "package", "gpu", "py_modules")
# Jina deployment options that mean nothing in-process or on Lambda: accepted and ignored,
# so that a Jina Flow runs unchanged.
JINA_IGNORED = frozenset({
    "port", "host", "env", "env_from_secret", "timeout_ready", "timeout_send", "install_requirements",
    "uses_metas", "uses_requests", "uses_dynamic_batching", "floating", "when", "gpus", "workspace",
    "quiet", "quiet_error", "log_config", "retries", "external", "tls", "grpc_server_options",
    "prefetch", "exit_on_exceptions", "disable_reduce", "uses_before", "uses_after", "stateful",
    "monitoring", "port_monitoring", "tracing", "protocol", "description",
})
# The top level of a Flow file, as Jina writes it; ``gateway:`` (Jina's gateway deployment
# options) means nothing here and is ignored, like JINA_IGNORED.
TOP_LEVEL_KEYS = ("jtype", "version", "with", "executors")
JINA_TOP_LEVEL_IGNORED = frozenset({"gateway"})
FLOW_FIELDS = ("name", "protocol", "port", "host", "workspace", "auth", "tracing", "idempotency_ttl_s")
# Jina Flow() options besides JINA_IGNORED that mean nothing here either.
JINA_FLOW_IGNORED = frozenset({"cors", "no_debug_endpoints", "uses", "title"})


def check_protocol(protocol: object) -> None:
    """Refuse any protocol but HTTP(S): the one gateway faasflow has."""
    if protocol is not None and str(protocol).lower() not in ("http", "https"):
        raise FlowConfigError(f"faasflow serves HTTP; protocol {protocol!r} is not supported", field="protocol")
