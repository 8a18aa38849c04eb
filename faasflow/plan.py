"""The Plan: an immutable, validated description of a Flow that every engine runs.

The local engine, the HTTP gateway and the serverless compiler all read the same Plan,
so a Flow validated once behaves the same wherever it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from faasflow.errors import FlowConfigError
from faasflow.executor import PASS_THROUGH_NAMES, Executor, PassThrough, with_requests
from faasflow.loader import config_class, import_py_modules, is_executor_config, read_executor_config, resolve_uses
from faasflow.rollout import Rollout, parse_rollout
from faasflow.runtimes import DEFAULT_RUNTIME, check_runtime

GATEWAY = "gateway"
CALLER_KEY = "_caller_module"
"""Set by ``Flow.add`` on an entry whose ``uses`` is executor YAML: the module it was called
from, where the YAML's bare ``jtype`` class name is looked up first."""
POLLING_MODES = ("ANY", "ALL")
PACKAGES = ("zip", "image")
ANY_ENDPOINT = "*"
# Jina's head runtime: '/search' broadcasts and '/index' partitions whatever the default
# polling is; only a per-endpoint entry of the dict form changes them.
JINA_ENDPOINT_POLLING = MappingProxyType({"/search": "ALL", "/index": "ANY"})
# Bounds a deployed Flow can meet, each with the reason its error gives.
MAX_SHARDS = 64
DEFAULT_IDEMPOTENCY_TTL_S = 3600
# at most a day: an answer too large for DynamoDB is kept in the payload storage, which
# expires objects after a day
MAX_IDEMPOTENCY_TTL_S = 86400
SHARDS_WHY = ("each shard is a Lambda function and a branch of a Step Functions Parallel state, "
              "so hundreds overrun CloudFormation's 500 resources a stack")
MAX_REPLICAS = 1000
REPLICAS_WHY = "Lambda scales each function by itself, to 1000 concurrent executions an account by default"


@dataclass(frozen=True)
class Polling:
    """Polling per endpoint: ``ANY`` partitions docs across shards, ``ALL`` broadcasts.

    Resolved as Jina's head runtime does: ``per_endpoint`` always holds ``/search`` (ALL)
    and ``/index`` (ANY) unless the dict form names them; ``default`` (a string polling,
    or the dict's ``'*'``) is every other endpoint's mode."""

    default: str = "ANY"
    per_endpoint: Mapping[str, str] = field(default_factory=lambda: JINA_ENDPOINT_POLLING)

    def mode(self, endpoint: str) -> str:
        return self.per_endpoint.get(endpoint, self.default)

    @classmethod
    def parse(cls, value: Any, executor: str) -> Polling:
        if isinstance(value, Polling):
            return value
        if isinstance(value, str):
            return cls(default=_polling_mode(value, executor, None), per_endpoint=JINA_ENDPOINT_POLLING)
        if isinstance(value, Mapping):
            per_endpoint: dict[str, str] = dict(JINA_ENDPOINT_POLLING)
            default = "ANY"
            for endpoint, mode in value.items():
                if endpoint == ANY_ENDPOINT:
                    default = _polling_mode(mode, executor, endpoint)
                elif not isinstance(endpoint, str) or not endpoint.startswith("/"):
                    raise FlowConfigError(
                        f"polling keys are endpoints starting with '/' or '*', got {endpoint!r}",
                        executor=executor,
                        field="polling",
                    )
                else:
                    per_endpoint[endpoint] = _polling_mode(mode, executor, endpoint)
            return cls(default=default, per_endpoint=MappingProxyType(per_endpoint))
        raise FlowConfigError(
            f"expected 'ANY', 'ALL' or a dict of endpoint to mode, got {value!r}", executor=executor, field="polling"
        )

    def to_config(self) -> str | dict[str, str]:
        """What reads back as this polling: the default alone where the endpoints follow
        Jina's rules, else the dict form with ``'*'``."""
        if dict(self.per_endpoint) == dict(JINA_ENDPOINT_POLLING):
            return self.default
        out = dict(self.per_endpoint)
        out[ANY_ENDPOINT] = self.default
        return out


def _polling_mode(value: Any, executor: str, endpoint: str | None) -> str:
    mode = value.upper() if isinstance(value, str) else value
    if mode not in POLLING_MODES:
        where = f" for endpoint {endpoint!r}" if endpoint else ""
        raise FlowConfigError(
            f"polling{where} must be 'ANY' or 'ALL', got {value!r}", executor=executor, field="polling"
        )
    return mode


@dataclass(frozen=True)
class ExecutorSpec:
    """One executor of the Flow, validated."""

    name: str
    uses: str  # the import reference, as written in YAML
    cls: type[Executor] = field(compare=False, repr=False)
    uses_with: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    shards: int = 1
    polling: Polling = field(default_factory=Polling)
    needs: tuple[str, ...] = (GATEWAY,)
    replicas: int = 1
    memory: int | None = None
    timeout: int | None = None
    package: str = "zip"
    gpu: bool = False
    py_modules: tuple[str, ...] = ()
    # Jina's disable_reduce: a join gets its needs' docs concatenated (last need first, as
    # Jina's worker does) instead of reduced by id; docs_matrix is the same either way
    disable_reduce: bool = False
    # Jina's uses_requests (endpoint -> method name), already applied to ``cls``
    uses_requests: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Jina's uses_before / uses_after (its head and tail): one-shard executors of their own
    # (named ``<name>/uses-before``, ``<name>/uses-after``, as Jina names them) that get the
    # stage's input before the shard fan-out (a join's needs' outputs, as ``docs_matrix``,
    # in place of the built-in join reduce), and every shard's answer (``docs_matrix``) after
    # it; with one shard too, as Jina 3 gives such an executor a head
    uses_before: ExecutorSpec | None = None
    uses_after: ExecutorSpec | None = None
    # the names a helper's ``docs_matrix`` rows go by in its ``docs_map`` (a uses_before: its
    # executor's needs; a uses_after: its executor, whose last shard wins, as in Jina); empty
    # for an executor, whose rows are its needs
    docs_map_keys: tuple[str, ...] = ()

    def serves(self, endpoint: str) -> bool:
        return self.cls.binding_for(endpoint) is not None

    @property
    def helpers(self) -> tuple[ExecutorSpec, ...]:
        """Its ``uses_before`` and ``uses_after`` executors, those it has, in that order."""
        return tuple(h for h in (self.uses_before, self.uses_after) if h is not None)


MAX_REMEMBERED_ENDPOINTS = 256


@dataclass(frozen=True)
class Plan:
    """The executors in topological order, plus what the Flow as a whole serves."""

    name: str
    executors: tuple[ExecutorSpec, ...]
    sinks: tuple[str, ...]  # executors nobody needs: their outputs merge into the answer
    auth: str | None = None  # deployed API: None (open), "api_key" or "iam" (SigV4)
    tracing: bool = False  # deployed functions and state machine: X-Ray active tracing
    # how long the gateway keeps an answer for a repeat of its Idempotency-Key (0: not at all)
    idempotency_ttl_s: int = DEFAULT_IDEMPOTENCY_TTL_S
    runtime: str = DEFAULT_RUNTIME  # the Lambda Python runtime of the deployed functions
    rollout: Rollout | None = None  # deployed: a gradual traffic shift per executor (None: all at once)
    monitoring: bool = True  # deployed: alarms, their SNS topic and a dashboard
    # ``serves``'s answers, per endpoint asked (bindings are fixed once the plan is made)
    _served: dict[str, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    def executor(self, name: str) -> ExecutorSpec:
        for spec in self.executors:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def served_endpoints(self) -> list[str]:
        """Endpoints some executor binds explicitly (``/default`` when one has a default)."""
        return sorted({e for spec in self.executors for e in spec.cls.endpoints()})

    def serves(self, endpoint: str) -> bool:
        """Whether some executor binds ``endpoint``; a Flow of the gateway alone serves all."""
        served = self._served.get(endpoint)
        if served is None:
            served = not self.executors or any(spec.serves(endpoint) for spec in self.executors)
            if len(self._served) < MAX_REMEMBERED_ENDPOINTS:  # callers choose the names: bounded
                self._served[endpoint] = served
        return served


def _positive_int(value: Any, executor: str, name: str, low: int = 1, high: int | None = None,
                  why: str | None = None) -> int:
    """``value`` if an integer in ``[low, high]``; else a FlowConfigError saying the bound
    (and ``why`` there is one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        reason = f" ({why})" if why and isinstance(value, int) and high is not None and value > high else ""
        raise FlowConfigError(f"must be an integer {bound}, got {value!r}{reason}", executor=executor, field=name)
    return value


def uses_reference(uses: Any) -> str:
    """How ``uses`` is written in YAML: the string itself, or a class's import path."""
    if isinstance(uses, str):
        return uses
    return f"{uses.__module__}.{uses.__qualname__}"


def build_spec(raw: Mapping[str, Any], previous: str, base_dir: Path | None, position: int = 0) -> ExecutorSpec:
    """Validate one ``Flow.add`` call (the ``position``-th) into an ExecutorSpec. Unnamed,
    it is ``executor<position>`` and, without ``uses``, a pass-through, as in Jina."""
    uses = raw.get("uses")
    if uses is None or uses in PASS_THROUGH_NAMES:
        uses = PassThrough
    name = raw.get("name")
    if name is None:
        name = f"executor{position}"
    if not isinstance(name, str) or not name or name == GATEWAY or "/" in name:
        raise FlowConfigError(
            f"an executor needs a name (not {GATEWAY!r}, no '/'), got {name!r}", executor=str(name), field="name"
        )
    py_modules = raw.get("py_modules") or ()
    if isinstance(py_modules, str):
        py_modules = (py_modules,)
    if py_modules:
        import_py_modules(list(py_modules), base_dir, name)
    uses_requests = raw.get("uses_requests") or {}
    if not isinstance(uses_requests, Mapping):
        raise FlowConfigError(f"must be a mapping of endpoint to method name, got {uses_requests!r}",
                              executor=name, field="uses_requests")
    uses_with = raw.get("uses_with") or {}
    if not isinstance(uses_with, Mapping):
        raise FlowConfigError(
            f"must be a mapping of keyword arguments, got {uses_with!r}", executor=name, field="uses_with"
        )
    if is_executor_config(uses):
        # Jina's executor YAML (file, text or {jtype, with, metas, requests}): reduced to
        # what every engine (and a deployed function's environment) already carries: the
        # class's import reference, uses_with, uses_requests and py_modules; the Flow's
        # own uses_with / uses_requests override the YAML's, as in Jina
        cls, uses, config = _config_spec(uses, name, base_dir, "uses", raw.get(CALLER_KEY))
        uses_with = {**config.uses_with, **uses_with}
        uses_requests = {**config.requests, **uses_requests}
        py_modules = tuple(config.py_modules) + tuple(py_modules)
    else:
        cls = resolve_uses(uses, name, base_dir)
    if uses_requests:
        try:
            cls = with_requests(cls, dict(uses_requests))
        except ValueError as exc:
            raise FlowConfigError(str(exc), executor=name, field="uses_requests") from None
    disable_reduce = raw.get("disable_reduce", False)
    if not isinstance(disable_reduce, bool):
        raise FlowConfigError(f"must be true or false, got {disable_reduce!r}", executor=name, field="disable_reduce")
    needs = raw.get("needs")
    if needs is None:
        needs_tuple: tuple[str, ...] = (previous,)
    elif isinstance(needs, str):
        needs_tuple = (needs,)
    elif isinstance(needs, Iterable) and all(isinstance(n, str) for n in needs):
        needs_tuple = tuple(needs)
        if not needs_tuple:
            raise FlowConfigError("must name at least one executor (or 'gateway')", executor=name, field="needs")
    else:
        raise FlowConfigError(
            f"must be an executor name or a list of names, got {needs!r}", executor=name, field="needs"
        )
    if disable_reduce and len(needs_tuple) < 2:
        raise FlowConfigError("applies to a join (needs two or more executors) here; the answers of "
                              "shards are always combined (use uses_after to combine them yourself)",
                              executor=name, field="disable_reduce")
    package = raw.get("package", "zip")
    if package not in PACKAGES:
        raise FlowConfigError(f"must be 'zip' or 'image', got {package!r}", executor=name, field="package")
    gpu = raw.get("gpu", False)
    if not isinstance(gpu, bool):
        raise FlowConfigError(f"must be true or false, got {gpu!r}", executor=name, field="gpu")
    memory = raw.get("memory")
    timeout = raw.get("timeout")
    shards = _positive_int(raw.get("shards", 1), name, "shards", high=MAX_SHARDS, why=SHARDS_WHY)
    helpers = {role: _helper_spec(raw.get(role), role, name, base_dir, raw.get(CALLER_KEY), disable_reduce,
                                  needs_tuple if role == "uses_before" else (name,))
               for role in ("uses_before", "uses_after")}
    return ExecutorSpec(
        name=name,
        uses=uses_reference(uses),
        cls=cls,
        uses_with=MappingProxyType(dict(uses_with)),
        shards=shards,
        polling=Polling.parse(raw.get("polling", "ANY"), name),
        needs=needs_tuple,
        replicas=_positive_int(raw.get("replicas", 1), name, "replicas", high=MAX_REPLICAS, why=REPLICAS_WHY),
        memory=None if memory is None else _positive_int(memory, name, "memory", 128, 10240),
        timeout=None if timeout is None else _positive_int(timeout, name, "timeout", 1, 900),
        package=package,
        gpu=gpu,
        py_modules=tuple(py_modules),
        disable_reduce=disable_reduce,
        uses_requests=MappingProxyType(dict(uses_requests)),
        **helpers,
    )


def _config_spec(uses: Any, executor: str, base_dir: Path | None, field: str,
                 caller: str | None = None) -> tuple[type[Executor], str, Any]:
    """An executor YAML's class, the reference a build imports it by (a ``py_modules``
    file's path relative to ``base_dir`` where it lies under it), and the config read."""
    config = read_executor_config(uses, executor, base_dir, field)
    cls, reference = config_class(config, executor, field, caller)
    file_part, _, class_name = reference.rpartition(":")
    if file_part.endswith(".py") and base_dir is not None:
        try:
            reference = f"{Path(file_part).resolve().relative_to(base_dir.resolve()).as_posix()}:{class_name}"
        except ValueError:
            pass  # outside the project: the absolute path
    return cls, reference, config


def helper_name(executor: str, role: str) -> str:
    """A ``uses_before``/``uses_after`` executor's name, as Jina names it: ``db/uses-after``."""
    return f"{executor}/{role.replace('_', '-')}"


def _helper_spec(uses: Any, role: str, executor: str, base_dir: Path | None,
                 caller: str | None = None, disable_reduce: bool = False,
                 docs_map_keys: tuple[str, ...] = ()) -> ExecutorSpec | None:
    """The ``uses_before``/``uses_after`` executor of an executor (None when not given): one
    shard, a zip function on AWS whatever its executor's package. As in Jina 3, whose
    Deployment gives an executor a head when it has a ``uses_before`` (and a tail for a
    ``uses_after``) whatever its shards, it runs for a one-shard executor too. It inherits
    its executor's ``disable_reduce``, as Jina's head and tail inherit its arguments: a join's
    uses_before then gets its needs' docs concatenated rather than reduced."""
    if uses is None:
        return None
    if isinstance(uses, str) and uses in PASS_THROUGH_NAMES:  # Jina's BaseExecutor: docs pass through
        uses = PassThrough
    name = helper_name(executor, role)
    if is_executor_config(uses):  # Jina's {jtype, with, metas, requests}, YAML text or file
        cls, reference, config = _config_spec(uses, executor, base_dir, role, caller)
        if config.requests:
            try:
                cls = with_requests(cls, dict(config.requests))
            except ValueError as exc:
                raise FlowConfigError(str(exc), executor=executor, field=role) from None
        return ExecutorSpec(name=name, uses=reference, cls=cls, needs=(executor,),
                            uses_with=MappingProxyType(dict(config.uses_with)), py_modules=config.py_modules,
                            uses_requests=MappingProxyType(dict(config.requests)), disable_reduce=disable_reduce,
                            docs_map_keys=docs_map_keys)
    if not isinstance(uses, (str, type)):
        raise FlowConfigError(f"must be an Executor class, its import path or Jina's {{jtype, with}} mapping, "
                              f"got {uses!r}", executor=executor, field=role)
    try:
        cls = resolve_uses(uses, executor, base_dir)
    except FlowConfigError as exc:  # the same message, about this field
        prefix = str(FlowConfigError("", executor=exc.executor, field=exc.field))
        raise FlowConfigError(str(exc).removeprefix(prefix), executor=executor, field=role) from None
    return ExecutorSpec(name=name, uses=uses_reference(uses), cls=cls, needs=(executor,),
                        disable_reduce=disable_reduce, docs_map_keys=docs_map_keys)


AUTH_MODES = ("api_key", "iam")


def compile_plan(name: str, raw_executors: list[Mapping[str, Any]], base_dir: Path | None = None, *,
                 auth: str | None = None, tracing: bool = False,
                 idempotency_ttl_s: int = DEFAULT_IDEMPOTENCY_TTL_S, runtime: str = DEFAULT_RUNTIME,
                 deploy: object = None, monitoring: bool = True) -> Plan:
    """Validate every executor and the graph they form; raise FlowConfigError on the first problem."""
    if auth is not None and auth not in AUTH_MODES:
        raise FlowConfigError(f"auth must be 'api_key', 'iam' or absent, got {auth!r}", field="auth")
    if isinstance(idempotency_ttl_s, bool) or not isinstance(idempotency_ttl_s, int) \
            or not 0 <= idempotency_ttl_s <= MAX_IDEMPOTENCY_TTL_S:
        raise FlowConfigError(f"idempotency_ttl_s must be an integer number of seconds between 0 (answers not kept) "
                              f"and {MAX_IDEMPOTENCY_TTL_S}, got {idempotency_ttl_s!r}", field="idempotency_ttl_s")
    if not isinstance(tracing, bool):
        raise FlowConfigError(f"tracing must be true or false, got {tracing!r}", field="tracing")
    try:
        check_runtime(runtime)
    except ValueError as exc:
        raise FlowConfigError(str(exc), field="runtime") from None
    rollout = parse_rollout(deploy)
    if not isinstance(monitoring, bool):
        raise FlowConfigError(f"monitoring must be true or false, got {monitoring!r}", field="monitoring")
    specs: list[ExecutorSpec] = []
    previous = GATEWAY
    for position, raw in enumerate(raw_executors):
        spec = build_spec(raw, previous, base_dir, position)
        if any(s.name == spec.name for s in specs):
            raise FlowConfigError("is used by two executors; names must be unique", executor=spec.name, field="name")
        specs.append(spec)
        previous = spec.name
    known = {s.name for s in specs}
    for spec in specs:
        for need in spec.needs:
            if need != GATEWAY and need not in known:
                raise FlowConfigError(
                    f"needs unknown executor {need!r}; known: {', '.join(sorted(known))} (and 'gateway')",
                    executor=spec.name,
                    field="needs",
                )
            if need == spec.name:
                raise FlowConfigError("an executor cannot need itself", executor=spec.name, field="needs")
    ordered = _topological_order(specs)
    needed = {n for s in specs for n in s.needs}
    # a Flow of the gateway alone (Jina's ``Flow()``) answers with the request's docs
    sinks = tuple(s.name for s in ordered if s.name not in needed) or (GATEWAY,)
    return Plan(name=name, executors=tuple(ordered), sinks=sinks, auth=auth, tracing=tracing,
                idempotency_ttl_s=idempotency_ttl_s, runtime=runtime, rollout=rollout, monitoring=monitoring)


def _topological_order(specs: list[ExecutorSpec]) -> list[ExecutorSpec]:
    """Kahn's algorithm, keeping the order executors were added among equals."""
    by_name = {s.name: s for s in specs}
    done: set[str] = {GATEWAY}
    ordered: list[ExecutorSpec] = []
    pending = list(specs)
    while pending:
        ready = [s for s in pending if all(n in done for n in s.needs)]
        if not ready:
            cycle = _find_cycle(by_name, [s.name for s in pending])
            raise FlowConfigError(f"needs form a cycle: {' -> '.join(cycle)}", executor=cycle[0], field="needs")
        for spec in ready:
            ordered.append(spec)
            done.add(spec.name)
        pending = [s for s in pending if s.name not in done]
    return ordered


def _find_cycle(by_name: Mapping[str, ExecutorSpec], names: list[str]) -> list[str]:
    remaining = set(names)
    start = names[0]
    path = [start]
    seen = {start}
    while True:
        following = next(n for n in by_name[path[-1]].needs if n in remaining)
        if following in seen:
            return path[path.index(following) :] + [following]
        path.append(following)
        seen.add(following)
