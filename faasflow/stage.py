"""Stage semantics, the one place they live: what each shard of a stage gets, how its
shards' answers combine, what parameters an executor sees, how an executor is made and
called (each shard checking the whole request before any shard runs it), and how a join
reduces its inputs.

The in-process engine, the Lambda hops and the simulated state machine all call these,
so a Flow answers the same embedded, served and deployed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from faasflow.array import DocumentArray
from faasflow.codec import to_wire_docs, wire_form
from faasflow.errors import BadInputError, FaasflowError, FlowConfigError, FlowError, UnknownTargetError
from faasflow.executor import Executor, call_endpoint
from faasflow.plan import ExecutorSpec
from faasflow.sharding import merge, partition, reassemble
from faasflow.wire import RESULTS_KEY


def copy_docs(docs: DocumentArray) -> DocumentArray:
    return DocumentArray._wrap([d.copy() for d in docs])


SPECIFIC_SEPARATOR = "__"


def specific_key(key: str) -> tuple[str, str] | None:
    """``(executor, parameter)`` for a key meant for one executor only, as Jina 3 reads it
    (``exec1__limit``: ``exec1``'s ``limit``): a key holding ``__`` that does not start or
    end with it; the part after the last ``__`` is the parameter, the rest (its ``__``
    dropped) the executor's name. None for a key meant for every executor."""
    if SPECIFIC_SEPARATOR not in key or key.startswith(SPECIFIC_SEPARATOR) or key.endswith(SPECIFIC_SEPARATOR):
        return None
    *executor, parameter = key.split(SPECIFIC_SEPARATOR)
    return "".join(executor), parameter




def executor_parameters(parameters: Mapping[str, Any], executor: str,
                        upstream: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters an executor sees, as Jina 3's worker parses them: the request's,
    without the keys meant for one executor (``exec1__limit``), plus those of its own (as
    ``limit``), then those nested under its name (``{'ranker': {'limit': 3}}``), which win.
    A uses_before/uses_after executor (``db/uses-after``) sees what its executor sees, plus
    those nested under its own name.

    ``upstream``: the dict results of the stages that ran before it on its path
    (``upstream_results``); when there are any they are its ``parameters['__results__']``
    (a copy, over any the request itself carried), as Jina's gateway hands an executor the
    request its predecessors answered; with none the key is left as the request has it."""
    if not parameters and not upstream:  # the common request: nothing to split
        return {}
    if upstream:
        merged = executor_parameters(parameters, executor)
        earlier = merged.get(RESULTS_KEY)
        merged[RESULTS_KEY] = {**(earlier if isinstance(earlier, Mapping) else {}), **copy.deepcopy(dict(upstream))}
        return merged
    owner = owner_of(executor)
    if owner != executor:
        parameters = executor_parameters(parameters, owner)
    merged = dict(parameters)
    for key in parameters:
        if SPECIFIC_SEPARATOR in key:
            split = specific_key(key)
            if split is not None:
                del merged[key]
                if split[0] == executor:
                    merged[split[1]] = parameters[key]
    own = parameters.get(executor)
    if isinstance(own, Mapping):
        merged.update(own)
    return merged


def results_key(stage: str, shard: int = 0, shards: int = 1) -> str:
    """Where a stage's dict result goes in ``parameters['__results__']``: Jina's runtime
    name of what ran, ``name/rep-0``, ``name/shard-<i>/rep-0`` when the executor has shards,
    ``name/uses_before-0`` / ``name/uses_after-0`` for its uses_before / uses_after."""
    owner = owner_of(stage)
    if owner != stage:
        return f"{owner}/{stage.split('/', 1)[1].replace('-', '_')}-0"
    return f"{stage}/shard-{shard}/rep-0" if shards > 1 else f"{stage}/rep-0"


def stage_results(stage: str, results: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """A sharded stage's dict results (one per shard, None where it returned none), keyed by
    ``results_key``."""
    answers = list(results)
    return {results_key(stage, shard, len(answers)): result
            for shard, result in enumerate(answers) if result is not None}


def upstream_results(*seen: Mapping[str, Any]) -> dict[str, Any]:
    """What an executor finds in ``parameters['__results__']``: the dict results of every
    stage upstream of it on its path (each of ``seen`` is what one of its inputs carries:
    the results its producer saw plus its own), keyed by ``results_key``.

    As in Jina 3, where each executor's worker adds its result to the request it answers
    and the gateway sends that answer on: a chain's later executors see the earlier ones'
    results; a join sees those of all its needs' paths (Jina's reduce merges the requests'
    ``__results__``); an executor never sees a parallel branch that does not lead to it,
    nor the other shards of its own stage. A uses_before's result reaches its executor's
    shards, the shards' results its uses_after (every shard's: Jina's tail keeps the first
    answer's parameters only, which depends on which shard answers first)."""
    merged: dict[str, Any] = {}
    for one in seen:
        merged.update(one)
    return merged


def unreduced_inputs(inputs: list[DocumentArray]) -> DocumentArray:
    """A ``disable_reduce`` join's docs: its needs' outputs concatenated, the last need's
    first, as Jina's worker hands over the requests it was not asked to reduce."""
    return DocumentArray._wrap([d for docs in reversed(inputs) for d in docs])


def join_inputs(inputs: list[DocumentArray]) -> DocumentArray:
    """A join's docs: its needs' outputs reduced by id (the first is copied, so the
    reduction never edits what another consumer holds)."""
    return merge([copy_docs(inputs[0]), *inputs[1:]])


def owner_of(stage: str) -> str:
    """The executor a stage belongs to: itself, or the one whose ``uses_before``/``uses_after``
    it is (``db/uses-after`` belongs to ``db``; executor names have no '/')."""
    return stage.split("/", 1)[0]


def targeted(target_executor: str | None, stage: str) -> bool:
    """Whether a request with this ``target_executor`` runs ``stage``: Jina's
    ``re.match(target_executor, name)`` (anchored at the start only), on the executor it
    belongs to, so an executor's uses_before and uses_after run exactly when it does."""
    return target_executor is None or re.match(target_executor, owner_of(stage)) is not None


# A request's regular expression is matched by a backtracking engine, so its shape is bounded:
# no repeated group (the exponential case) and few repetitions (polynomial in a name's length).
MAX_TARGET_LENGTH = 128
MAX_TARGET_REPEATS = 3


def _slow_pattern(pattern: str) -> str | None:
    """Why ``pattern`` could make matching slow (None when it cannot): too long, a repeated
    group such as ``(a+)+``, or more than MAX_TARGET_REPEATS repetitions."""
    if len(pattern) > MAX_TARGET_LENGTH:
        return f"it is {len(pattern)} characters; at most {MAX_TARGET_LENGTH}"
    repeats, previous, in_class, escaped = 0, "", False, False
    for char in pattern:
        if escaped:
            escaped, previous = False, "x"
            continue
        if char == "\\":
            escaped = True
            continue
        if in_class:
            in_class = char != "]"
            previous = "x" if not in_class else previous
            continue
        if char == "[":
            in_class = True
        elif char in "*+{" or (char == "?" and previous not in ("(", "*", "+", "?", "}")):
            if previous == ")":
                return "a repeated group (such as '(a+)+') can take exponential time to match; repeat single items"
            repeats += 1
            if repeats > MAX_TARGET_REPEATS:
                return f"it repeats more than {MAX_TARGET_REPEATS} times (*, +, ?, {{}})"
        previous = char
    return None


def check_target(target_executor: str | None, executors: Iterable[str]) -> None:
    """Refuse a ``target_executor`` that is not a string, not a regular expression, one that
    could take long to match (``_slow_pattern``), or one that matches none of ``executors``
    (``UnknownTargetError``, the caller's mistake)."""
    if target_executor is None:
        return
    names = list(executors)
    if not isinstance(target_executor, str):
        raise UnknownTargetError(repr(target_executor), names, "it is not a string")
    slow = _slow_pattern(target_executor)
    if slow:
        raise UnknownTargetError(target_executor[:MAX_TARGET_LENGTH], names, slow)
    try:
        re.compile(target_executor)
    except re.error as exc:
        raise UnknownTargetError(target_executor, names, f"not a regular expression: {exc}") from None
    if not any(targeted(target_executor, name) for name in names):
        raise UnknownTargetError(target_executor, names)


def uses_after_input(outputs: list[DocumentArray | None]) -> tuple[DocumentArray, list[DocumentArray] | None]:
    """What a ``uses_after`` executor gets from its executor's shards, as Jina's head hands
    it: ``docs_matrix``, the answers of the shards that ran, in shard order (None when they
    are all empty, as Jina unifies it), and ``docs``, all of them concatenated, last shard
    first (Jina's ``get_docs_from_request``)."""
    matrix = [o for o in outputs if o is not None]
    docs = DocumentArray._wrap([d for answer in reversed(matrix) for d in answer])
    return docs, (matrix if docs else None)


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


def docs_map_of(spec: ExecutorSpec, docs_matrix: list[DocumentArray]) -> dict[str, DocumentArray]:
    """``docs_map``: each row of ``docs_matrix`` under the name it comes from (a join's needs;
    a uses_before's, its executor's needs). Rows with no name of their own (a uses_after's
    shards) go under its executor's name, the last one winning, as in Jina."""
    keys = spec.docs_map_keys or spec.needs
    if len(keys) == len(docs_matrix):
        return dict(zip(keys, docs_matrix))
    return {keys[-1]: docs_matrix[-1]}


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
        "docs_map": None if docs_matrix is None else docs_map_of(spec, docs_matrix),
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
