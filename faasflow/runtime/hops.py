"""One hop of a Flow on AWS: resolve a stage's input from the state, run one shard of it,
and hand back an envelope for the next hop.

The same functions as the embedded engine decide what each shard gets and how shards'
answers combine (``faasflow.stage``), so a Flow answers the same on AWS as in-process.

An envelope is what a stage shard leaves in the state:
``{"docs": ref, "results": dict|None, "positions": [...]|None, "input_ids": [...]}`` or
``{"skipped": true, ...}`` (an ``ANY`` shard that owns none of the docs) or
``{"error": {...}}`` (the executor raised: executor, shard, endpoint, type, message, and for
a ``BadRequest`` its ``bad_request`` flag, ``doc_id`` and ``field``, which the gateway answers 422).

Before it runs its endpoint, every shard checks the stage's whole input (``check_request``,
on the docs before they are cut to its positions): all shards see the same request, so a
refusal that does not depend on a shard's own state is every shard's, and none stores any of
it, with no hop added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from faasflow import codec
from faasflow.array import DocumentArray
from faasflow.errors import FlowError
from faasflow.executor import Executor
from faasflow.plan import ExecutorSpec
from faasflow.runtime.payload import decode_docs, encode_docs
from faasflow.stage import (
    check_request,
    combine_shards,
    executor_parameters,
    invoke_shard,
    join_inputs,
    results_key,
    shard_parts,
    stage_results,
    targeted,
    unreduced_inputs,
    upstream_results,
    uses_after_input,
)
from faasflow.wire import Envelope, ErrorInfo, InputTree, ShardsTree, StageEvent, StageValue


def decode_tree(tree: InputTree | str) -> InputTree:
    """An input tree, from the codec text the state machine carries it as."""
    return cast(InputTree, codec.loads(tree)) if isinstance(tree, str) else tree


def resolve(tree: InputTree, values: Mapping[str, StageValue], parameters: Mapping[str, Any]) -> DocumentArray:
    """The documents an input tree stands for."""
    if "merge" in tree or "shards" in tree:
        return resolve_input(tree, values, parameters)[0]
    value = values[tree["stage"]]
    if tree["mode"] == "single":
        assert isinstance(value, Mapping)
        return decode_docs(value["value"]["docs"])
    assert isinstance(value, list)
    envelopes: list[Envelope] = value
    if envelopes[0].get("passed"):  # not targeted: shard 0 passed the stage's input on
        return decode_docs(envelopes[0]["docs"])
    outputs = [None if e.get("skipped") else decode_docs(e["docs"]) for e in envelopes]
    input_ids = envelopes[0]["input_ids"]
    parts = [e.get("positions") for e in envelopes]
    return combine_shards(tree["mode"], input_ids, parts, outputs, executor_parameters(parameters, tree["stage"]))


def resolve_input(tree: InputTree, values: Mapping[str, StageValue],
                  parameters: Mapping[str, Any]) -> tuple[DocumentArray, list[DocumentArray] | None]:
    """A stage's input docs, plus the matrix of its needs' docs when it joins several (or
    of a sharded stage's answers, for its uses_after)."""
    if "merge" in tree:
        inputs = [resolve(child, values, parameters) for child in tree["merge"]]
        return join_inputs(inputs), inputs
    if "shards" in tree:
        return _shard_answers(tree, values)
    return resolve(tree, values, parameters), None


def _shard_answers(tree: ShardsTree, values: Mapping[str, StageValue]) -> tuple[DocumentArray,
                                                                                  list[DocumentArray] | None]:
    """A sharded stage's answers as its uses_after gets them (``stage.uses_after_input``)."""
    value = values[tree["shards"]]
    envelopes = value if isinstance(value, list) else [value["value"]]  # one shard: a docs_matrix of one
    if envelopes[0].get("passed"):
        return decode_docs(envelopes[0]["docs"]), None
    return uses_after_input([None if e.get("skipped") else decode_docs(e["docs"]) for e in envelopes])


def tree_results(tree: InputTree, values: Mapping[str, StageValue]) -> dict[str, Any]:
    """The dict results upstream of a stage whose input is ``tree`` (``stage.upstream_results``),
    from the envelopes its hop already gets: each stage's own ``results``, plus the
    ``upstream`` its shard 0 carried on (the results that stage saw). No envelope but those
    of the stages the tree reads is needed, and a Flow whose executors return no dict
    carries nothing more."""
    if "merge" in tree:
        return upstream_results(*(tree_results(child, values) for child in tree["merge"]))
    name = tree["shards"] if "shards" in tree else tree["stage"]
    value = values.get(name)
    if value is None:
        return {}
    if isinstance(value, list):
        envelopes: list[Envelope] = value
        own = stage_results(name, [e.get("results") for e in envelopes])
    else:
        envelopes = [value.get("value") or {}]
        result = envelopes[0].get("results")
        own = {results_key(name): result} if result is not None else {}
    return upstream_results(envelopes[0].get("upstream") or {}, own) if envelopes else {}


def run_shard(
    instance: Executor,
    spec: ExecutorSpec,
    shard: int,
    mode: str,
    event: StageEvent,
    inline_limit: int,
) -> Envelope:
    """Run this shard of a stage on the documents the state hands it."""
    request = event["request"]
    endpoint, request_id = request["endpoint"], request["request_id"]
    parameters = request.get("parameters") or {}
    if not targeted(request.get("target_executor"), spec.name):
        return _pass_through(spec, shard, event, inline_limit)
    tree = decode_tree(event["input"])
    docs, docs_matrix = resolve_input(tree, event["values"], parameters)
    if docs_matrix is not None and spec.disable_reduce and "merge" in tree:
        docs = unreduced_inputs(docs_matrix)
    upstream = tree_results(tree, event["values"])
    own_parameters = executor_parameters(parameters, spec.name, upstream)
    binding = spec.cls.binding_for(endpoint)
    envelope: Envelope = {}
    if upstream and shard == 0:  # carried on, so that later stages see them (tree_results)
        envelope["upstream"] = upstream
    positions: list[int] | None = None
    if mode != "single":
        parts = shard_parts(docs, spec.shards, mode)
        positions = parts[shard]
        envelope["positions"] = positions
        if shard == 0:
            envelope["input_ids"] = docs.ids
        if positions is not None and not positions:
            envelope["skipped"] = True
            return envelope
    try:
        check_request(instance, spec, shard, endpoint, docs, own_parameters)  # the whole input, before the cut
        if positions is not None:
            docs = DocumentArray._wrap([docs._docs[p] for p in positions])
        out, results = invoke_shard(instance, binding, spec, shard, endpoint, docs, own_parameters, docs_matrix)
    except FlowError as error:
        return {"error": error.to_dict()}  # type: ignore[typeddict-item]
    envelope["docs"] = encode_docs(out, f"{request_id}/{spec.name}-{shard}", inline_limit)
    envelope["results"] = results  # already in its wire form (faasflow.stage.invoke_shard)
    return envelope


def _pass_through(spec: ExecutorSpec, shard: int, event: StageEvent, inline_limit: int) -> Envelope:
    """A stage the request's ``target_executor`` does not match: no executor code runs,
    shard 0 hands the stage's input on (as the embedded engine passes it through), the
    other shards nothing."""
    if shard > 0:
        return {"passed": True}
    request = event["request"]
    tree = decode_tree(event["input"])
    docs, _ = resolve_input(tree, event["values"], request.get("parameters") or {})
    ref = encode_docs(docs, f"{request['request_id']}/{spec.name}-{shard}", inline_limit)
    envelope: Envelope = {"docs": ref, "results": None, "passed": True}
    upstream = tree_results(tree, event["values"])
    if upstream:
        envelope["upstream"] = upstream
    return envelope


def stage_error(envelopes: list[Envelope]) -> ErrorInfo | None:
    """A sharded stage's error, from all its shards' envelopes (a Parallel state runs every
    shard, the failing ones too): the lowest failing shard's, and, unless it is a bad
    request, which shards finished (``committed_shards``) and which failed, as the
    embedded engine says; None when no shard failed."""
    failed = [shard for shard, envelope in enumerate(envelopes) if "error" in envelope]
    if not failed:
        return None
    error: ErrorInfo = {**envelopes[failed[0]]["error"]}
    if not error.get("bad_request"):
        error["committed_shards"] = [shard for shard, envelope in enumerate(envelopes) if "docs" in envelope]
        error["failed_shards"] = failed
    return error


def collect_results(values: Mapping[str, StageValue]) -> dict[str, Any]:
    """Executors' dict results from every stage of a finished run, keyed as the embedded
    engine keys them: by Jina's runtime names (``faasflow.stage.results_key``)."""
    results: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, list):
            results.update(stage_results(name, [e.get("results") for e in value]))
        elif isinstance(value, Mapping) and value.get("value", {}).get("results") is not None:
            results[results_key(name)] = value["value"]["results"]
    return results
