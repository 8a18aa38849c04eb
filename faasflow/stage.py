"""Stage semantics, the one place they live: what each shard of a stage gets, how its
shards' answers combine, what parameters an executor sees, how an executor is made and
called (each shard checking the whole request before any shard runs it), and how a join
reduces its inputs.

The in-process engine, the Lambda hops and the simulated state machine all call these,
so a Flow answers the same embedded, served and deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faasflow.array import DocumentArray
from faasflow.codec import to_wire_docs, wire_form
from faasflow.errors import BadInputError, FaasflowError, FlowConfigError, FlowError
from faasflow.executor import Executor, call_endpoint
from faasflow.plan import ExecutorSpec
from faasflow.sharding import merge, partition, reassemble


def copy_docs(docs: DocumentArray) -> DocumentArray:
    return DocumentArray._wrap([d.copy() for d in docs])


def executor_parameters(parameters: Mapping[str, Any], executor: str) -> dict[str, Any]:
    """The parameters an executor sees: the request's, plus those nested under its own
    name (``{'ranker': {'limit': 3}}``), as Jina does."""
    own = parameters.get(executor)
    if isinstance(own, Mapping):
        merged = dict(parameters)
        merged.update(own)
        return merged
    return dict(parameters)


def join_inputs(inputs: list[DocumentArray]) -> DocumentArray:
    """A join's docs: its needs' outputs reduced by id (the first is copied, so the
    reduction never edits what another consumer holds)."""
    return merge([copy_docs(inputs[0]), *inputs[1:]])


def construct_executor(spec: ExecutorSpec, shard: int, **runtime_args: Any) -> Executor:
    """One shard's instance of ``spec``, with its ``uses_with``, its runtime (name, shard,
    shards, replicas, plus ``runtime_args``: workspace, storage_url); a failure names the
    executor and shard (and ``uses_with`` when ``__init__`` refuses an argument)."""
    args = {"name": spec.name, "shard_id": shard, "shards": spec.shards, "replicas": spec.replicas,
            **{k: v for k, v in runtime_args.items() if v is not None}}
    try:
        return spec.cls(**spec.uses_with, runtime_args=args, metas={"name": spec.name})
    except Exception as exc:
        if isinstance(exc, TypeError) and "argument" in str(exc) and spec.uses_with:
            raise FlowConfigError(
                f"{spec.cls.__name__}.__init__ rejects it: {exc}", executor=spec.name, field="uses_with"
            ) from exc
        raise FaasflowError(
            f"executor {spec.name!r} shard {shard} failed to start: {type(exc).__name__}: {exc}"
        ) from exc


def shard_parts(docs: DocumentArray, shards: int, mode: str) -> list[list[int] | None]:
    """What each shard of a stage gets: ``None`` for all the docs (``ALL``), else the input
    positions it owns (``ANY``). With ``ANY`` a shard that owns nothing is not called,
    except that an empty request still reaches shard 0, as in Jina."""
    if mode == "ALL":
        return [None] * shards
    parts: list[list[int] | None] = list(partition(docs, shards))
    if not docs:
        parts[0] = None
    return parts


def combine_shards(
    mode: str,
    input_ids: list[str],
    parts: list[list[int] | None],
    outputs: list[DocumentArray | None],
    parameters: Mapping[str, Any],
) -> DocumentArray:
    """One stage answer from its shards' answers: ``ALL`` merges by id (matches cut to
    ``parameters['limit']``), ``ANY`` puts the docs back in input order."""
    answered = [o for o in outputs if o is not None]
    if mode == "ALL":
        limit = parameters.get("limit")
        return merge(answered, limit=limit if isinstance(limit, int) else None, order=input_ids)
    if not input_ids:
        return answered[0] if answered else DocumentArray()
    return reassemble(input_ids, [p or [] for p in parts], outputs)


def check_request(
    instance: Executor, spec: ExecutorSpec, shard: int, endpoint: str, docs: DocumentArray,
    parameters: dict[str, Any],
) -> None:
    """Run one shard's ``check_request`` on the stage's whole input, before any shard of the
    stage runs its endpoint; a refusal (or any failure) becomes a FlowError naming the shard."""
    try:
        instance.check_request(endpoint, docs, parameters)
    except Exception as exc:
        raise FlowError(spec.name, shard, endpoint, exc) from exc


def invoke_shard(
    instance: Executor,
    binding: Any,
    spec: ExecutorSpec,
    shard: int,
    endpoint: str,
    docs: DocumentArray,
    parameters: dict[str, Any],
    docs_matrix: list[DocumentArray] | None = None,
) -> tuple[DocumentArray, dict[str, Any] | None]:
    """Call one shard's endpoint method; any failure becomes a FlowError naming it."""
    call_args = {
        "docs": docs,
        "parameters": parameters,
        "docs_matrix": docs_matrix,
        "docs_map": None if docs_matrix is None else dict(zip(spec.needs, docs_matrix)),
    }
    try:
        returned = call_endpoint(instance, binding, call_args)
    except Exception as exc:
        raise FlowError(spec.name, shard, endpoint, exc) from exc
    out, results = _normalise(returned, docs, spec.name, shard, endpoint)
    try:  # the wire form, in every mode: what one mode carries, all carry; a refusal reads the same
        to_wire_docs(out)
        if results is not None:
            results = wire_form(results, "the returned results")
    except BadInputError as exc:
        raise FlowError(spec.name, shard, endpoint, exc) from None
    return out, results


def _normalise(
    returned: Any, docs: DocumentArray, executor: str, shard: int, endpoint: str
) -> tuple[DocumentArray, dict[str, Any] | None]:
    """Jina's return semantics: None keeps the (edited) docs, a DocumentArray replaces them,
    a dict is a result for the caller."""
    if returned is None:
        return docs, None
    if isinstance(returned, DocumentArray):
        return returned, None
    if isinstance(returned, dict):
        return docs, returned
    if isinstance(returned, (list, tuple)):
        try:
            return DocumentArray(returned), None
        except TypeError as exc:
            raise FlowError(
                executor, shard, endpoint, TypeError(f"returned a list that is not all Documents: {exc}")
            ) from None
    raise FlowError(
        executor,
        shard,
        endpoint,
        TypeError(f"returned {type(returned).__name__}; expected None, a DocumentArray or a dict"),
    )
