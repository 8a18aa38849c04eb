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
    shard_parts,
)
from faasflow.wire import Envelope, ErrorInfo, InputTree, StageEvent, StageValue


def decode_tree(tree: InputTree | str) -> InputTree:
    """An input tree, from the codec text the state machine carries it as."""
    return cast(InputTree, codec.loads(tree)) if isinstance(tree, str) else tree


def resolve(tree: InputTree, values: Mapping[str, StageValue], parameters: Mapping[str, Any]) -> DocumentArray:
    """The documents an input tree stands for."""
    if "merge" in tree:
        return resolve_input(tree, values, parameters)[0]
    value = values[tree["stage"]]
    if tree["mode"] == "single":
        assert isinstance(value, Mapping)
        return decode_docs(value["value"]["docs"])
    assert isinstance(value, list)
    envelopes: list[Envelope] = value
    outputs = [None if e.get("skipped") else decode_docs(e["docs"]) for e in envelopes]
    input_ids = envelopes[0]["input_ids"]
    parts = [e.get("positions") for e in envelopes]
    return combine_shards(tree["mode"], input_ids, parts, outputs, executor_parameters(parameters, tree["stage"]))


def resolve_input(tree: InputTree, values: Mapping[str, StageValue],
                  parameters: Mapping[str, Any]) -> tuple[DocumentArray, list[DocumentArray] | None]:
    """A stage's input docs, plus the matrix of its needs' docs when it joins several."""
    if "merge" in tree:
        inputs = [resolve(child, values, parameters) for child in tree["merge"]]
        return join_inputs(inputs), inputs
    return resolve(tree, values, parameters), None


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
    docs, docs_matrix = resolve_input(decode_tree(event["input"]), event["values"], parameters)
    own_parameters = executor_parameters(parameters, spec.name)
    binding = spec.cls.binding_for(endpoint)
    envelope: Envelope = {}
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
    engine keys them (a list per shard for sharded executors)."""
    results: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, list):
            shard_results = [e.get("results") for e in value]
            if any(r is not None for r in shard_results):
                results[name] = shard_results
        elif isinstance(value, Mapping) and value.get("value", {}).get("results") is not None:
            results[name] = value["value"]["results"]
    return results
