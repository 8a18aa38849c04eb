"""Parameter models: what an endpoint declares its parameters to be, checked at the edge.

An endpoint declares a pydantic model (``@requests(on='/search', parameters=SearchParams)``,
or by annotating its ``parameters`` argument). The Plan turns the models into JSON Schemas,
once; every mode checks a request's parameters against them before any executor runs, with
the same validator (``fastjsonschema``, which needs no executor code and no pydantic): the
embedded Flow, the HTTP gateway and the gateway function on AWS, which reads the schemas
the build wrote beside it. A refusal is a ``BadRequest`` (HTTP 422) naming the executor and
the parameter's ``loc``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faasflow.errors import BadRequest, FlowConfigError, FlowError
from faasflow.executor import DEFAULT_ENDPOINT
from faasflow.stage import SPECIFIC_SEPARATOR, executor_parameters, specific_key

if TYPE_CHECKING:
    from faasflow.plan import Plan

ParameterSchemas = dict[str, dict[str, dict[str, Any] | None]]
"""executor -> endpoint it binds -> its parameters' JSON Schema (None: declares none)."""

SCHEMAS_FILE = "faasflow-parameters.json"
"""The schemas' file in the gateway function's code folder (the build writes it)."""
SCHEMAS_ENV = "FAASFLOW_PARAMETER_SCHEMAS"


class ParameterError(BadRequest):
    """Parameters that do not fit an endpoint's declared model: ``loc`` says where, as
    FastAPI and pydantic do (``['parameters', 'limit']``)."""

    def __init__(self, message: str, loc: list[str | int], rule: str):
        self.loc = loc
        self.rule = rule
        super().__init__(message, field=".".join(str(part) for part in loc[1:]) or "parameters")

    def problems(self) -> list[dict[str, Any]]:
        return [{"loc": self.loc, "msg": self.message, "type": self.rule}]


def parameter_schemas(plan: Plan) -> ParameterSchemas:
    """Every executor's declared parameter schemas, by the endpoints it binds (an executor
    that declares none maps to ``{}``: its name still marks parameters nested under it).
    A schema the validator cannot compile is a FlowConfigError here, not a 500 later."""
    schemas: ParameterSchemas = {}
    for spec in plan.executors:
        bindings = spec.cls._endpoint_bindings
        if not any(b.declares_parameters for b in bindings.values()):
            schemas[spec.name] = {}
            continue
        schemas[spec.name] = {
            endpoint: binding.parameters_schema(f"executor {spec.name!r} endpoint {endpoint!r}")
            for endpoint, binding in bindings.items()
        }
        for endpoint, schema in schemas[spec.name].items():
            if schema is not None:
                _compile(schema, f"executor {spec.name!r} endpoint {endpoint!r}")
    return schemas


def endpoint_schema(bindings: Mapping[str, dict[str, Any] | None], endpoint: str,
                    ) -> tuple[str, dict[str, Any] | None]:
    """The binding that serves ``endpoint`` (its own, else the default one) and its schema."""
    key = endpoint if endpoint in bindings else DEFAULT_ENDPOINT
    return key, bindings.get(key)


def read_schemas(folder: str | Path | None = None) -> ParameterSchemas:
    """The schemas the build wrote into the gateway function's code (empty when none)."""
    path = os.environ.get(SCHEMAS_ENV) or str(Path(folder or os.environ.get("LAMBDA_TASK_ROOT") or ".") / SCHEMAS_FILE)
    try:
        return json.loads(Path(path).read_text())  # type: ignore[no-any-return]
    except FileNotFoundError:
        return {}


def schemas_text(schemas: ParameterSchemas) -> str:
    return json.dumps(schemas, indent=2, sort_keys=True) + "\n"


class ParameterCheck:
    """Checks a request's parameters against the schemas of every executor it reaches."""

    def __init__(self, schemas: ParameterSchemas):
        self.schemas = schemas
        self._checks: dict[str, list[tuple[str, Any]]] = {}
        # endpoints some executor binds by name; any other is served by default bindings, and
        # shares their checks (so that a caller inventing paths cannot grow the cache)
        self._named = {endpoint for bindings in schemas.values() for endpoint in bindings}

    def __bool__(self) -> bool:
        return bool(self.schemas)

    def check(self, endpoint: str, parameters: Mapping[str, Any]) -> None:
        """Raise FlowError(BadRequest) naming the first executor whose declared model the
        parameters (as that executor sees them) do not fit."""
        key = endpoint if endpoint in self._named else DEFAULT_ENDPOINT
        checks = self._checks.get(key)
        if checks is None:
            checks = self._checks[key] = self._checks_for(key)
        for executor, validate in checks:
            own = executor_parameters(parameters, executor)
            try:  # what is nested under executors' names is theirs, not a field of this model
                validate({k: v for k, v in own.items() if k not in self.schemas} if self._nested(own) else own)
            except Exception as exc:
                import fastjsonschema

                if not isinstance(exc, fastjsonschema.JsonSchemaValueException):
                    raise
                raise FlowError(executor, None, endpoint, _parameter_error(exc, executor, parameters)) from None

    def _nested(self, parameters: Mapping[str, Any]) -> bool:
        return any(name in parameters for name in self.schemas)

    def _checks_for(self, endpoint: str) -> list[tuple[str, Any]]:
        """The validators a request to ``endpoint`` meets, compiled on its first request
        (a cold start pays only for what it serves)."""
        checks = []
        for executor, bindings in self.schemas.items():
            _, schema = endpoint_schema(bindings, endpoint)
            if schema is not None:
                checks.append((executor, _compile(schema, f"executor {executor!r} endpoint {endpoint!r}")))
        return checks


def _compile(schema: dict[str, Any], where: str) -> Any:
    """The schema's validator. ``format`` is dropped: in JSON Schema it annotates, and
    pydantic's own parsing of a datetime or a UUID is more lenient than any format check."""
    import fastjsonschema

    try:
        return fastjsonschema.compile(_without_formats(schema), use_default=False)
    except Exception as exc:  # noqa: BLE001 - a regex pydantic takes and Python's re does not, say
        raise FlowConfigError(f"{where}: its parameters model's JSON Schema cannot be checked: "
                              f"{type(exc).__name__}: {exc}") from None


def _without_formats(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_formats(v) for k, v in node.items()
                if not (k == "format" and isinstance(v, str) and node.get("type") == "string")}
    if isinstance(node, list):
        return [_without_formats(v) for v in node]
    return node


def _parameter_error(exc: Any, executor: str, parameters: Mapping[str, Any]) -> ParameterError:
    path: list[str | int] = [part for part in (exc.path or ["data"])[1:]]
    nested = parameters.get(executor)
    # a value set under the executor's own name ({'ranker': {'limit': 3}}) is located there,
    # one set for it alone ('ranker__limit') at that key
    if path and isinstance(nested, Mapping) and path[0] in nested:
        path = [executor, *path]
    elif path:
        source = _specific_source(parameters, executor, path[0])
        if source is not None:
            path = [source, *path[1:]]
    loc: list[str | int] = ["parameters", *path]
    return ParameterError(f"{_expectation(exc)}; got {_shown(exc.value)}", loc, str(exc.rule))


def _specific_source(parameters: Mapping[str, Any], executor: str, name: Any) -> str | None:
    """The ``executor__name`` key that set ``name`` for ``executor`` (the last, as it wins)."""
    found = None
    for key in parameters:
        if SPECIFIC_SEPARATOR in key and specific_key(key) == (executor, name):
            found = key
    return found


def _expectation(exc: Any) -> str:
    """What the schema wanted, in words; fastjsonschema's own sentence for anyOf says only
    that no alternative fitted, so the alternatives are listed instead."""
    message = str(exc.message)
    if exc.rule in ("anyOf", "oneOf") and isinstance(exc.definition, Mapping):
        choices = [_describe(option) for option in exc.definition.get(exc.rule, [])]
        return "must be " + " or ".join(choices)
    return message.split(" ", 1)[1] if " " in message else message


def _describe(option: Any) -> str:
    if not isinstance(option, Mapping):
        return "a valid value"
    if "enum" in option:
        return "one of " + ", ".join(json.dumps(v) for v in option["enum"])
    if "const" in option:
        return json.dumps(option["const"])
    kind = option.get("type")
    if kind == "null":
        return "null"
    if kind == "object" or "$ref" in option:
        return "an object of the declared fields" if "$ref" in option or "properties" in option else "an object"
    if kind == "array":
        return "a list"
    if kind in ("integer", "number"):
        return _numbers(option, "an integer" if kind == "integer" else "a number")
    return {"string": "a string", "boolean": "true or false"}.get(str(kind), "a valid value")


def _numbers(option: Mapping[str, Any], noun: str) -> str:
    low, high = option.get("minimum"), option.get("maximum")
    if low is not None and high is not None:
        return f"{noun} from {low} to {high}"
    if low is not None:
        return f"{noun} of at least {low}"
    if high is not None:
        return f"{noun} of at most {high}"
    return noun


def _shown(value: Any) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."
