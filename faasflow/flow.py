"""`Flow`: compose executors into a pipeline/DAG and run it, as in Jina 3.

``Flow().add(...)`` describes; ``with flow:`` validates (into a Plan) and starts the
executors in-process; ``flow.post(...)`` sends documents through.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faasflow.array import DocumentArray
from faasflow.codec import to_wire_docs, wire_form
from faasflow.embedded import EmbeddedBackend
from faasflow.errors import FaasflowError, FlowConfigError, FlowError, UnknownEndpointError
from faasflow.flow_fields import (
    ADD_FIELDS,
    FLOW_FIELDS,
    JINA_FLOW_IGNORED,
    JINA_IGNORED,
    check_jina_options,
    check_protocol,
)
from faasflow.flow_yaml import config_to_dict, read_flow_config
from faasflow.loader import is_executor_config
from faasflow.plan import CALLER_KEY, DEFAULT_IDEMPOTENCY_TTL_S, Plan, compile_plan
from faasflow.posting import AsyncPostMixin, JinaShortcuts, check_post_options, endpoint_of, run_post
from faasflow.request import Callback, Response, make_response, new_request_id
from faasflow.runtimes import DEFAULT_RUNTIME
from faasflow.stage import check_target
from faasflow.wire import RESULTS_KEY

# ADD_FIELDS, FLOW_FIELDS and JINA_IGNORED (from faasflow.flow_fields) stay importable from here.

logger = logging.getLogger("faasflow.flow")
# Jina's retry options of post: the Flow is in this process, with no network to retry over
IN_PROCESS_POST_OPTIONS = frozenset({"max_attempts", "initial_backoff", "max_backoff", "backoff_multiplier"})


class Flow(JinaShortcuts):
    """A pipeline of executors with shards and per-endpoint polling."""

    def __init__(self, name: str = "flow", protocol: str | None = None, port: int | None = None,
                 host: str = "127.0.0.1", workspace: str | None = None, auth: str | None = None,
                 tracing: bool = False, idempotency_ttl_s: int = DEFAULT_IDEMPOTENCY_TTL_S, asyncio: bool = False,
                 runtime: str = DEFAULT_RUNTIME, deploy: Any = None, monitoring: bool = True, **jina_options: Any):
        """``asyncio=True`` makes this an ``AsyncFlow`` (as Jina's does): its ``post`` is an
        async generator."""
        unknown = sorted(set(jina_options) - JINA_IGNORED - JINA_FLOW_IGNORED)
        if unknown:
            raise FlowConfigError(f"Flow() got unknown option(s): {', '.join(unknown)}")
        check_jina_options({k: v for k, v in jina_options.items() if k in JINA_IGNORED | JINA_FLOW_IGNORED})
        check_protocol(protocol)
        self.name = name
        self.protocol = protocol
        self.port = port
        self.host = host
        self.workspace = workspace
        self.auth = auth
        self.tracing = tracing
        self.idempotency_ttl_s = idempotency_ttl_s
        self.runtime = runtime  # deployed: the functions' Lambda Python runtime
        self.deploy = deploy  # deployed: all at once (None) or a canary / linear shift (faasflow.rollout)
        self.monitoring = monitoring  # deployed: alarms and a dashboard (Jina's monitoring= is Prometheus)
        self.base_dir: Path | None = None
        self._executors: list[dict[str, Any]] = []
        self._plan: Plan | None = None
        self._engine = None
        self._server = None
        if asyncio and not isinstance(self, AsyncPostMixin):
            self.__class__ = AsyncFlow

    # --- building ---

    def add(self, uses: Any = None, name: str | None = None, *, copy_flow: bool = True, **options: Any) -> Flow:
        """Add an executor; returns the new Flow (as Jina does, the original is unchanged)."""
        flow = self._copy() if copy_flow else self
        # unnamed, it is executor<N>, N counting every executor added before (as Jina names it)
        name = name if name is not None else f"executor{len(flow._executors)}"
        unknown = sorted(set(options) - set(ADD_FIELDS) - JINA_IGNORED)
        executor = name
        if unknown:
            raise FlowConfigError(f"Flow.add() got unknown option(s): {', '.join(unknown)}; "
                                  f"known: {', '.join(ADD_FIELDS)}", executor=executor, field=unknown[0])
        check_jina_options({k: v for k, v in options.items() if k in JINA_IGNORED}, executor)
        entry = {"uses": uses, "name": name, **{k: v for k, v in options.items() if k in ADD_FIELDS}}
        if any(is_executor_config(entry.get(k)) for k in ("uses", "uses_before", "uses_after")):
            entry[CALLER_KEY] = _caller_module()  # where a YAML's bare jtype is looked up first
        flow._executors.append({k: v for k, v in entry.items() if v is not None})
        flow._plan = None
        return flow

    def needs(self, needs: str | list[str], name: str = "joiner", *args: Any, **options: Any) -> Flow:
        """Jina's ``needs``: add an executor (a pass-through unless ``uses`` is given) that
        joins ``needs``."""
        return self.add(*args, name=name, needs=needs, **options)

    join = needs

    def needs_all(self, name: str = "joiner", *args: Any, **options: Any) -> Flow:
        """Jina's ``needs_all``: join every executor nothing needs yet (the gateway, for a
        Flow of the gateway alone)."""
        needed = {n for e in self._executors for n in _as_list(e.get("needs"))}
        names = [e["name"] for e in self._executors]
        needed |= {names[i - 1] for i, e in enumerate(self._executors) if i > 0 and e.get("needs") is None}
        dangling = [n for n in names if n not in needed] or ["gateway"]
        return self.add(*args, name=name, needs=dangling, **options)

    def _copy(self) -> Flow:
        new = copy.copy(self)
        new._executors = [dict(e) for e in self._executors]
        new._plan = None
        new._engine = None
        new._server = None
        return new

    @property
    def plan(self) -> Plan:
        """The validated, immutable Plan (compiled on first use)."""
        if self._plan is None:
            self._plan = compile_plan(self.name, self._executors, self.base_dir, auth=self.auth, tracing=self.tracing,
                                      idempotency_ttl_s=self.idempotency_ttl_s, runtime=self.runtime,
                                      deploy=self.deploy, monitoring=self.monitoring)
        return self._plan

    def build(self) -> Flow:
        """Validate now; raises FlowConfigError naming the executor and field."""
        _ = self.plan
        return self

    @property
    def executors(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != CALLER_KEY} for e in self._executors]

    # --- YAML ---

    @classmethod
    def load_config(cls, source: str | Path | Mapping[str, Any]) -> Flow:
        """A Flow from Jina-style YAML (``jtype: Flow``, ``with:``, ``executors:``)."""
        config = read_flow_config(source)
        flow = cls(**config.options)
        flow.base_dir = config.base_dir
        for entry in config.executors:
            flow = flow.add(**entry, copy_flow=False)
        return flow

    def save_config(self, path: str | Path | None = None) -> str:
        """Write (and return) this Flow as Jina-style YAML."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_dict(self) -> dict[str, Any]:
        """This Flow as the Jina-style YAML mapping ``load_config`` reads back."""
        options = {key: getattr(self, key) for key in FLOW_FIELDS}
        return config_to_dict(options, self.plan)

    # --- running ---

    def start(self) -> Flow:
        from faasflow.engine import LocalEngine

        if self._engine is not None:
            return self
        from faasflow.parameters import ParameterCheck, parameter_schemas

        self._parameter_check = ParameterCheck(parameter_schemas(self.plan))
        engine = LocalEngine(self.plan, workspace=self.workspace)
        engine.start()
        self._engine = engine
        if self.protocol is not None or self.port is not None:  # Jina's Flow(port=N) serves on N
            try:
                self._start_server()
            except BaseException:
                self.close()
                raise
        return self

    def _start_server(self) -> None:
        from faasflow.extras import SERVER_MODULES, needs

        with needs("Flow(protocol='http')", "serve", SERVER_MODULES):
            from faasflow.serve import start_background_server

        self._server = start_background_server(EmbeddedBackend(self), host=self.host, port=self.port)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> Flow:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def is_started(self) -> bool:
        return self._engine is not None

    def block(self) -> None:
        """Serve until interrupted (Ctrl-C), with ``protocol='http'``."""
        if self._server is None:
            raise FaasflowError("Flow.block() serves over HTTP: create the Flow with protocol='http' "
                                "and use `with flow:`")
        self._server.wait()

    def process(self, on: str, docs: DocumentArray, parameters: dict[str, Any],
                request_id: str | None = None, *, copy_inputs: bool = True,
                target_executor: str | None = None) -> Response:
        """Run one request batch; an executor failure comes back in ``response.error``.

        ``copy_inputs=False`` skips copying ``docs``, for docs no caller holds (those the
        HTTP gateway decoded from a request body). ``target_executor``: only the executors
        it matches run (UnknownTargetError when it matches none)."""
        if self._engine is None:
            raise FaasflowError("the Flow is not started: use `with flow:` before flow.post()")
        if target_executor is not None:
            check_target(target_executor, (spec.name for spec in self.plan.executors))
        request_id = request_id or new_request_id()
        if copy_inputs:
            docs = DocumentArray._wrap([d.copy() for d in docs])  # the caller's objects stay untouched
            # what a Client would send: the wire form, or the caller's mistake named (BadInputError)
            to_wire_docs(docs)
        parameters = wire_form(parameters, "parameters")
        try:
            if self._parameter_check:  # declared parameter models, before any executor runs
                self._parameter_check.check(on, parameters)
            output = self._engine.process(on, docs, parameters, target_executor)
        except FlowError as error:
            return make_response(request_id, on, DocumentArray(), parameters, error)
        answer_parameters = dict(parameters)
        if output.results:
            answer_parameters[RESULTS_KEY] = output.results
        return make_response(request_id, on, output.docs, answer_parameters)

    def check_endpoint(self, on: str) -> None:
        if not isinstance(on, str) or not on.startswith("/"):
            raise UnknownEndpointError(str(on), self.plan.served_endpoints)
        if not self.plan.serves(on):
            raise UnknownEndpointError(on, self.plan.served_endpoints)

    def post(self, on: str, inputs: Any = None, parameters: dict[str, Any] | None = None,
             request_size: int = 100, show_progress: bool = False, on_done: Callback | None = None,
             on_error: Callback | None = None, on_always: Callback | None = None,
             return_responses: bool = False, target_executor: str | None = None,
             continue_on_error: bool = False, results_in_order: bool = False, return_results: bool | None = None,
             **_jina_options: Any) -> DocumentArray | list[Response] | None:
        """Send ``inputs`` to endpoint ``on``; returns the resulting docs in input order
        (``None`` with ``on_done``/``on_always``, as Jina 3; the callback and error rules are
        ``faasflow.posting.run_post``'s). Batches run one after another, so the results are
        always in input order (``results_in_order`` asks for nothing more).
        ``target_executor``: a regular expression; only the executors whose names it
        matches (from the start, as Jina's ``re.match``) run, the others pass docs through."""
        check_post_options("Flow.post", _jina_options, IN_PROCESS_POST_OPTIONS)
        if self._engine is None:
            raise FaasflowError("the Flow is not started: use `with flow:` before flow.post()")
        on = endpoint_of(on)
        self.check_endpoint(on)
        if target_executor is not None:
            check_target(target_executor, (spec.name for spec in self.plan.executors))

        def send(endpoint: str, docs: DocumentArray, params: dict[str, Any]) -> Response:
            return self.process(endpoint, docs, params, target_executor=target_executor)

        return run_post(send, on, inputs, parameters, request_size, show_progress,
                        on_done, on_error, on_always, return_responses,
                        continue_on_error=continue_on_error, return_results=return_results)

    # --- equality ---

    def _identity(self) -> tuple[Any, ...]:
        """What defines this Flow, as its YAML would: its options and its executors, each
        with its ``needs`` spelled out (an executor without needs follows the one before)."""
        options = tuple(getattr(self, key) for key in FLOW_FIELDS)
        executors = []
        previous = "gateway"
        for entry in self.executors:
            needs = entry.get("needs")
            normalized = dict(entry, needs=sorted(_as_list(needs)) if needs is not None else [previous])
            executors.append(sorted(normalized.items(), key=lambda item: item[0]))
            previous = entry["name"]
        return options, self.base_dir, executors

    def __eq__(self, other: object) -> bool:
        """Jina's Flow equality: the same options and executors (names, ``uses`` and their
        arguments, and the same topology), compared without building or starting either."""
        if not isinstance(other, Flow):
            return NotImplemented
        return self._identity() == other._identity()

    __hash__ = None  # type: ignore[assignment]  # a Flow is mutable (add(copy_flow=False)), and compared by value

    def __repr__(self) -> str:
        names = ", ".join(str(e.get("name") or e.get("uses")) for e in self._executors)
        return f"{type(self).__name__}(name={self.name!r}, executors=[{names}])"


class AsyncFlow(AsyncPostMixin, Flow):
    """Jina's ``AsyncFlow`` (also ``Flow(asyncio=True)``): ``post`` and the ``index``/
    ``search``/``update``/``delete`` shortcuts are async generators, ``async for docs in
    flow.post(...)``, yielding each batch's docs (its Response with ``return_responses``);
    each batch runs on a worker thread, so the event loop is never blocked."""


def _caller_module() -> str | None:
    """The module that called into the Flow (the first frame outside this module)."""
    import sys

    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # type: ignore[assignment]
    return None if frame is None else frame.f_globals.get("__name__")


def _as_list(needs: Any) -> list[str]:
    if needs is None:
        return []
    return [needs] if isinstance(needs, str) else list(needs)
