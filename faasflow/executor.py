"""`Executor` and `@requests`: the programming model, as Jina 3 users know it.

A method bound with ``@requests(on='/index')`` receives ``docs`` and ``parameters`` (plus
whatever else it accepts of ``docs_matrix``, ``docs_map``, ``tracing_context``) and
returns ``None`` (docs changed in place), a DocumentArray (replaces the docs) or a dict
(results for the caller). Methods may be ``async``.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FunctionType, SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from faasflow.errors import BadRequest, FlowConfigError
from faasflow.wire import RESULTS_KEY

if TYPE_CHECKING:
    from faasflow.storage import Storage

DEFAULT_ENDPOINT = "/default"
"""The endpoint a bare ``@requests`` binds to; it also serves endpoints bound nowhere else."""

DEFAULT_WORKSPACE_ROOT = ".faasflow/workspace"
CATCH_ALL_ENDPOINT = "*"
"""Jina's ``@requests(on='*')``: a key of ``requests`` like any endpoint (Jina routes no
request to it by itself), so ``@requests(on='*')`` and ``requests={'*': ...}`` are accepted."""
WORKSPACE_BASE_VARIABLES = ("FAASFLOW_WORKSPACE", "FAASFLOW_DEFAULT_WORKSPACE_BASE", "JINA_DEFAULT_WORKSPACE_BASE")
_RUNTIME_KWARGS = ("metas", "runtime_args", "requests", "workspace", "dynamic_batching")
_CALL_ARGS = ("docs", "parameters", "docs_matrix", "docs_map", "tracing_context")

F = TypeVar("F", bound=Callable[..., Any])


def workspace_root() -> str:
    """Where executors keep their folders when nothing else says: ``FAASFLOW_WORKSPACE``,
    else ``FAASFLOW_DEFAULT_WORKSPACE_BASE``, else Jina's ``JINA_DEFAULT_WORKSPACE_BASE``,
    else ``.faasflow/workspace``."""
    for variable in WORKSPACE_BASE_VARIABLES:
        value = os.environ.get(variable)
        if value:
            return value
    return DEFAULT_WORKSPACE_ROOT


def is_endpoint(endpoint: object) -> bool:
    """An endpoint a method can be bound to: a path starting with '/', or Jina's ``'*'``."""
    return isinstance(endpoint, str) and (endpoint.startswith("/") or endpoint == CATCH_ALL_ENDPOINT)


def requests(func: F | None = None, *, on: str | Iterable[str] | None = None, parameters: Any = None,
             request_schema: Any = None, response_schema: Any = None) -> Any:
    """Bind an executor method to endpoints: bare (the default), ``on='/x'`` or ``on=[...]``.

    ``parameters``: the endpoint's parameters as a pydantic model (or its ``'module:Class'``
    name), checked before any executor runs (a 422 naming the field) and shown in the
    OpenAPI schema; annotating the method's ``parameters`` argument with a model does the
    same, and the method then receives the model's instance instead of the dict.
    ``request_schema`` / ``response_schema`` (docarray v2 document types) are not
    supported: documents here are docarray v1 style, so giving one is an error.
    """
    for option, value in (("request_schema", request_schema), ("response_schema", response_schema)):
        if value is not None:
            raise TypeError(f"@requests({option}=...) is not supported: faasflow documents are docarray v1 style "
                            "Documents; declare parameters with parameters=Model instead")
    if on is None:
        endpoints = [DEFAULT_ENDPOINT]
    elif isinstance(on, str):
        endpoints = [on]
    else:
        endpoints = list(on)
    for endpoint in endpoints:
        if not is_endpoint(endpoint):
            raise ValueError(f"@requests(on=...) takes endpoint paths starting with '/' (or '*'), got {endpoint!r}")

    def bind(fn: F) -> F:
        fn.__faasflow_endpoints__ = tuple(endpoints)  # type: ignore[attr-defined]
        if parameters is not None:
            fn.__faasflow_parameters__ = parameters  # type: ignore[attr-defined]
        return fn

    return bind(func) if func is not None else bind


class _BoundMethod:
    """An endpoint method plus how to call it, worked out once per class."""

    __slots__ = ("name", "is_async", "passes", "takes_var_kwargs", "declared", "_fn", "_annotated", "_model")

    def __init__(self, name: str, fn: Callable[..., Any]):
        self.name = name
        self.is_async = inspect.iscoroutinefunction(fn)
        signature = inspect.signature(fn)
        params = signature.parameters
        self.takes_var_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        self.passes = tuple(arg for arg in _CALL_ARGS if self.takes_var_kwargs or arg in params)
        self.declared = getattr(fn, "__faasflow_parameters__", None)
        self._fn = fn
        self._annotated: Any = _UNRESOLVED  # the model the `parameters` argument is annotated with, if any
        self._model: Any = None

    @property
    def annotated_model(self) -> Any:
        """The pydantic model the method's ``parameters`` argument is annotated with, else
        None; resolved on first use, so that models defined after the class work too."""
        if self._annotated is _UNRESOLVED:
            self._annotated = _annotation_model(self._fn)
        return self._annotated

    @property
    def declares_parameters(self) -> bool:
        return self.declared is not None or self.annotated_model is not None

    def parameters_model(self, where: str) -> type | None:
        """The declared model (the decorator's, else the annotation's), or None."""
        if self._model is None and self.declares_parameters:
            declared = self.declared if self.declared is not None else self.annotated_model
            self._model = resolve_parameters_model(declared, where)
        return self._model

    def parameters_schema(self, where: str) -> dict[str, Any] | None:
        model = self.parameters_model(where)
        return None if model is None else model.model_json_schema()  # type: ignore[attr-defined]


_UNRESOLVED = object()


def resolve_parameters_model(model: Any, where: str) -> type:
    """A declared model: a pydantic model class, or its ``'module:Class'`` name (which
    keeps pydantic out of the executor's import, for cold starts)."""
    if isinstance(model, str):
        import importlib

        module_name, _, attr = model.replace(":", ".").rpartition(".")
        try:
            model = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise FlowConfigError(f"{where}: parameters model {model!r} cannot be imported: {exc}") from None
    if not (isinstance(model, type) and hasattr(model, "model_json_schema") and hasattr(model, "model_validate")):
        raise FlowConfigError(f"{where}: parameters= takes a pydantic model class, not {model!r}")
    return model


def _annotation_model(fn: Callable[..., Any]) -> Any:
    """A pydantic model class annotating ``fn``'s ``parameters``, else None. String
    annotations are evaluated in the function's module; one that cannot be (a name
    imported only for type checkers) is no model."""
    parameter = inspect.signature(fn).parameters.get("parameters")
    annotation = None if parameter is None else parameter.annotation
    if isinstance(annotation, str):
        if "pydantic" not in sys.modules:
            return None  # no model class can exist yet; and the cold start stays free of pydantic
        try:
            annotation = eval(annotation, getattr(fn, "__globals__", {}))  # noqa: S307 - the module's own annotation
        except Exception:  # noqa: BLE001
            return None
    if isinstance(annotation, type) and "pydantic" in sys.modules:
        from pydantic import BaseModel

        if issubclass(annotation, BaseModel):
            return annotation
    return None


EXECUTOR_CLASSES: dict[str, type] = {}
"""Executor classes by name, so that ``uses='MyExecutor'`` finds an imported class."""


class ExecutorType(type):
    """Collects ``@requests`` bindings per class, and sets an executor's runtime
    (name, shard, workspace) before its own ``__init__`` runs, as Jina does."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> ExecutorType:
        cls = super().__new__(mcs, name, bases, namespace)
        bindings: dict[str, _BoundMethod] = {}
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                for endpoint in getattr(fn, "__faasflow_endpoints__", ()):
                    bindings[endpoint] = _BoundMethod(attr, fn)
        cls._endpoint_bindings = bindings  # type: ignore[attr-defined]
        EXECUTOR_CLASSES[name] = cls
        return cls

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        runtime = {key: kwargs.pop(key) for key in _RUNTIME_KWARGS if key in kwargs}
        made = cls
        if runtime.get("requests"):  # Jina's requests=: this instance's endpoints remapped
            if not isinstance(runtime["requests"], dict):
                raise TypeError(f"requests= maps endpoints to method names, got {runtime['requests']!r}")
            made = with_requests(cls, runtime["requests"])  # type: ignore[arg-type]
        obj = made.__new__(made)
        Executor._set_runtime(obj, runtime.get("metas"), runtime.get("runtime_args"), runtime.get("workspace"))
        obj._init_kwargs = dict(kwargs)
        obj.__init__(*args, **kwargs)
        return obj


class Executor(metaclass=ExecutorType):
    """Base class of every executor; subclass it and bind methods with ``@requests``."""

    _endpoint_bindings: dict[str, _BoundMethod]

    def __init__(
        self,
        *args: Any,
        metas: dict | None = None,
        runtime_args: dict | None = None,
        workspace: str | None = None,
        **kwargs: Any,
    ):
        # What Jina passes to an executor is accepted here, so that a subclass calling
        # super().__init__(*args, **kwargs) works unchanged; the runtime was already set.
        # Anything else is a uses_with key no __init__ took: an error, never a silent drop.
        for key in _RUNTIME_KWARGS:
            kwargs.pop(key, None)
        if args or kwargs:
            unexpected = ", ".join(repr(k) for k in kwargs) or f"{len(args)} positional argument(s)"
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected argument(s): {unexpected}")
        if metas is not None or runtime_args is not None or workspace is not None:
            self._set_runtime(metas, runtime_args, workspace)

    def _set_runtime(self, metas: dict | None, runtime_args: dict | None, workspace: str | None) -> None:
        runtime = dict(runtime_args or {})
        metas = dict(metas or {})
        name = runtime.get("name") or metas.get("name") or type(self).__name__
        # Jina's order: the runtime's workspace, then metas.workspace, then workspace=, then the default base
        root = runtime.get("workspace") or metas.get("workspace") or workspace or workspace_root()
        shard_id = runtime.get("shard_id")
        # a shard id of -1 or none (an executor made by hand) has no shard folder, as in Jina
        self._shard_folder = shard_id is not None and int(shard_id) != -1
        self.runtime_args = SimpleNamespace(
            name=name,
            shard_id=max(int(shard_id if shard_id is not None else 0), 0),
            shards=int(runtime.get("shards", 1)),
            replicas=int(runtime.get("replicas", 1)),
            workspace=str(root),
            storage_url=runtime.get("storage_url") or os.environ.get("FAASFLOW_STORAGE_URL"),
        )
        extra = {k: v for k, v in metas.items() if k not in ("name", "workspace", "description")}
        self.metas = SimpleNamespace(**extra,
                                     name=metas.get("name") or name, workspace=str(root),
                                     description=metas.get("description"))
        self.logger = logging.getLogger(f"faasflow.executor.{name}")

    @property
    def workspace(self) -> str:
        """This executor's own folder, kept across Flow restarts: ``<workspace>/<name>/<shard>``
        (an executor made by hand without a shard id: ``<workspace>/<name>``, as in Jina)."""
        runtime = self.runtime_args
        path = Path(runtime.workspace) / runtime.name
        if getattr(self, "_shard_folder", True):
            path = path / str(runtime.shard_id)
        path = path.absolute()
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    @classmethod
    def load_config(cls, source: Any, *, uses_with: dict | None = None, uses_metas: dict | None = None,
                    uses_requests: dict | None = None, runtime_args: dict | None = None,
                    workspace: str | None = None) -> Executor:
        """An executor from Jina's executor YAML: a path to a ``.yml`` file, YAML text, or a
        mapping, with ``jtype`` (or a ``!ClassName`` tag), ``with``, ``metas`` (and its
        ``py_modules``) and ``requests``; ``uses_with`` / ``uses_metas`` / ``uses_requests``
        override the file's, as in Jina. Called on a subclass, the YAML's class must be one."""
        from faasflow.loader import config_class, read_executor_config

        config = read_executor_config(source, cls.__name__, field="load_config")
        found, _ = config_class(config, cls.__name__, "load_config", sys._getframe(1).f_globals.get("__name__"))
        if not issubclass(found, cls):
            raise FlowConfigError(f"{config.jtype!r} is not a {cls.__name__}", executor=cls.__name__,
                                  field="load_config")
        requests_map = {**config.requests, **(uses_requests or {})}
        return found(**{**config.uses_with, **(uses_with or {})}, metas={**config.metas, **(uses_metas or {})},
                     requests=requests_map or None, runtime_args=runtime_args, workspace=workspace)

    def save_config(self, path: str | Path | None = None) -> str:
        """Write (and return) this executor as Jina's executor YAML: ``jtype``, the ``with``
        keywords it was made with, its ``metas`` name and description, and its ``requests``."""
        import yaml

        from faasflow import codec

        data: dict[str, Any] = {"jtype": type(self).__name__}
        made_with = getattr(self, "_init_kwargs", {})
        if made_with:
            data["with"] = codec.to_plain(made_with)
        metas = {"name": self.metas.name}
        if getattr(self.metas, "description", None):
            metas["description"] = self.metas.description
        data["metas"] = metas
        data["requests"] = {endpoint: b.name for endpoint, b in self._endpoint_bindings.items()}
        text = yaml.safe_dump(data, sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @property
    def storage(self) -> Storage:
        """Durable state for this executor and shard: a folder in the workspace when
        embedded, an S3 prefix on AWS (``runtime_args.storage_url``), same interface."""
        storage = self.__dict__.get("_storage")
        if storage is None:
            from faasflow.storage.layout import shard_storage

            if not self.runtime_args.storage_url:
                _ = self.workspace  # made here: the shard's folder exists before its state does
            storage = self.__dict__["_storage"] = shard_storage(self.runtime_args, self.runtime_args.shard_id)
        return storage

    @property
    def requests(self) -> dict[str, Callable[..., Any]]:
        """Endpoint -> bound method, as Jina's ``Executor.requests``."""
        return {endpoint: _method(self, b.name) for endpoint, b in self._endpoint_bindings.items()}

    @classmethod
    def endpoints(cls) -> list[str]:
        """The endpoints this class binds explicitly (the default one included, if bound);
        not Jina's ``'*'``, which is no path a request is sent to."""
        return sorted(e for e in cls._endpoint_bindings if e != CATCH_ALL_ENDPOINT)

    @classmethod
    def binding_for(cls, endpoint: str) -> _BoundMethod | None:
        """The method serving ``endpoint``: its own binding, else the default one, else None."""
        bindings = cls._endpoint_bindings
        return bindings.get(endpoint) or bindings.get(DEFAULT_ENDPOINT)

    def check_request(self, endpoint: str, docs: Any, parameters: dict[str, Any]) -> None:
        """Refuse a request before any shard of this executor runs it: raise
        ``faasflow.BadRequest`` for what is wrong with it. Nothing by default.

        It sees the whole request, ``docs`` before the split across shards and this
        executor's ``parameters``, and must neither edit the docs nor store anything of
        them. Every shard runs it on the same request before any runs ``endpoint``
        (embedded, served and on AWS), so a refusal that does not depend on one shard's own
        state refuses the request on all shards: none stores any of it."""

    def close(self) -> None:
        """Called once when the Flow exits; release resources or persist state here."""

    def status(self) -> dict[str, Any]:
        """What ``GET /status`` shows of this instance (say, the device running its model);
        nothing by default."""
        return {}


def with_requests(cls: type[Executor], mapping: dict[str, str]) -> type[Executor]:
    """``cls`` with Jina's ``uses_requests`` applied (endpoint -> method name): each named
    method is bound to its new endpoint, leaving the endpoint it was bound to before, as
    Jina's ``requests=`` does; a subclass, so ``cls`` itself is unchanged. ValueError names
    what does not fit."""
    bindings = dict(cls._endpoint_bindings)
    for endpoint, method in mapping.items():
        if not is_endpoint(endpoint):
            raise ValueError(f"endpoints start with '/' (or are '*'), got {endpoint!r}")
        fn = getattr(cls, method, None) if isinstance(method, str) else None
        if not callable(fn):
            raise ValueError(f"{cls.__name__} has no method {method!r} for {endpoint!r}")
        for bound, binding in list(bindings.items()):
            if binding.name == method:
                del bindings[bound]
        bindings[endpoint] = _BoundMethod(method, fn)
    remapped = type(cls)(cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
    remapped._endpoint_bindings = bindings
    EXECUTOR_CLASSES[cls.__name__] = cls  # the name still finds the class as written
    return remapped


class PassThrough(Executor):
    """What ``Flow().add()`` without ``uses`` adds, as Jina's ``BaseExecutor``: every
    endpoint's docs pass through unchanged."""

    @requests
    def _pass_through(self, **kwargs: Any) -> None:
        return None


PASS_THROUGH_NAMES = ("BaseExecutor", "jina.serve.executors.BaseExecutor")
"""``uses`` strings that mean Jina's ``BaseExecutor``: the pass-through."""


_loops = threading.local()
_events: Any = None  # asyncio.events, imported by the first async call (cold starts)


def _run_coroutine(coro: Any) -> Any:
    """Run a coroutine as a Task on this thread's own event loop (made once per thread).

    Most endpoint coroutines never wait on anything: the Task's first step finishes them,
    and the rest of ``run_until_complete`` (starting and stopping the loop, a second turn
    for the done callback) would cost more than the step. So the first step first (the loop
    set as running, as for any Task step), then ``run_until_complete`` for a coroutine still
    waiting. When that step is all the loop has ready and no timer is due, it is run
    directly, without the turn's poll of the selector (a system call): what a turn would
    run then is that step alone, I/O aside, and I/O a coroutine left waiting is served by
    the next turn, as when the loop is not running at all. A thread already running a loop
    gets ``run_until_complete``'s own error, as before."""
    global _events
    events = _events
    if events is None:
        from asyncio import events

        _events = events
    loop = getattr(_loops, "loop", None)
    if loop is None:
        loop = _loops.loop = events.new_event_loop()
    if events._get_running_loop() is not None:
        return loop.run_until_complete(coro)
    task = loop.create_task(coro)
    events._set_running_loop(loop)
    try:
        ready, timers = loop._ready, loop._scheduled  # type: ignore[attr-defined]
        if len(ready) == 1 and (not timers or timers[0].when() > loop.time()):  # no timer due either
            ready.popleft()._run()  # the Task's first step, as the turn would run it
        else:
            loop._run_once()  # type: ignore[attr-defined]
    finally:
        events._set_running_loop(None)
    if task.done():
        return task.result()
    return loop.run_until_complete(task)


def _method(executor: Executor, name: str) -> Callable[..., Any]:
    """The endpoint method ``name`` bound to ``executor``, looked up on its class, so that an
    instance attribute of the same name (``self.bar = bar``) does not hide it, as in Jina."""
    fn = getattr(type(executor), name)
    return fn.__get__(executor, type(executor)) if hasattr(fn, "__get__") else fn


def call_endpoint(executor: Executor, binding: _BoundMethod, call_args: dict[str, Any]) -> Any:
    """Call an endpoint method with the arguments it accepts; await it if it is async. A
    method whose ``parameters`` are annotated with a model gets the model's instance (a
    BadRequest naming the field when they do not fit)."""
    if binding.annotated_model is not None and "parameters" in binding.passes:
        call_args = {**call_args, "parameters": _model_instance(binding, call_args.get("parameters") or {})}
    arguments = {name: call_args.get(name) for name in binding.passes}
    fn = getattr(type(executor), binding.name)
    if type(fn) is FunctionType:  # the usual method: called with the executor, no bound method made
        result = fn(executor, **arguments)
    else:
        result = _method(executor, binding.name)(**arguments)
    if binding.is_async:
        result = _run_coroutine(result)
    return result


def _model_instance(binding: _BoundMethod, parameters: dict[str, Any]) -> Any:
    """The model's instance; what the model refuses (a validator's rule, which no JSON
    Schema at the edge could check) is the caller's mistake, naming the field."""
    from pydantic import ValidationError

    # upstream executors' results ride in the parameters (as in Jina); they are not the
    # caller's parameters, so a model that forbids extra fields must not see them
    fields = {k: v for k, v in parameters.items() if k != RESULTS_KEY} if RESULTS_KEY in parameters else parameters
    try:
        return binding.annotated_model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadRequest(first["msg"], field=".".join(str(part) for part in first["loc"]) or None) from None
