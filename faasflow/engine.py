"""The local engine: the in-process scheduler of a Plan, shards in parallel threads, no
serialization. What a stage means (partition, combine, merge, parameters) is ``faasflow.stage``.

Documents pass between executors as Python objects. Where one output feeds several
consumers (an ``ALL`` broadcast, a DAG fork) each consumer after the first gets
copies, so in-place edits in one branch never leak into another, as with Jina's wire.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from faasflow import blas_threads
from faasflow.array import DocumentArray
from faasflow.errors import FlowError
from faasflow.executor import Executor
from faasflow.plan import GATEWAY, ExecutorSpec, Plan
from faasflow.sharding import merge
from faasflow.stage import (
    check_request,
    combine_shards,
    construct_executor,
    copy_docs,
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

logger = logging.getLogger("faasflow.engine")


class StageObserver(Protocol):
    def observe_executor(self, executor: str, endpoint: str, seconds: float, failed: bool) -> None: ...


@dataclass
class StageOutput:
    docs: DocumentArray
    results: dict[str, Any] = field(default_factory=dict)


class LocalEngine:
    """Constructs a Plan's executors (one instance per shard) and runs requests through them."""

    def __init__(self, plan: Plan, workspace: str | None = None):
        self.plan = plan
        self.workspace = workspace
        self.instances: dict[str, list[Executor]] = {}
        widest = max((spec.shards for spec in plan.executors), default=1)
        self._pool = ThreadPoolExecutor(max_workers=max(widest - 1, 1), thread_name_prefix="faasflow-shard")
        consumers: dict[str, int] = {}
        for spec in plan.executors:
            for need in spec.needs:
                consumers[need] = consumers.get(need, 0) + 1
        for sink in plan.sinks:
            consumers[sink] = consumers.get(sink, 0) + 1
        self._consumers = consumers
        self._modes: dict[tuple[str, str, int], ModeChooser] = {}
        self._observers: list[StageObserver] = []
        self._executor_locks: dict[str, threading.Lock] = {}

    def add_observer(self, observer: StageObserver) -> None:
        """Report every executor stage a request runs (``observe_executor(name, endpoint,
        seconds, failed)``), for metrics."""
        self._observers.append(observer)

    def one_request_per_executor(self) -> None:
        """Let each executor handle one request at a time, as one Lambda container does, so
        an executor written for a single caller stays safe when requests come concurrently
        (a served Flow); different executors still work on different requests at once."""
        self._executor_locks = {spec.name: threading.Lock() for spec in self.plan.executors}

    # --- lifecycle ---

    def start(self) -> None:
        """Construct every executor; the shards of one executor in parallel."""
        try:
            for spec in self.plan.executors:
                futures = [self._pool.submit(self._construct, spec, shard) for shard in range(1, spec.shards)]
                first = self._construct(spec, 0)
                self.instances[spec.name] = [first] + [f.result() for f in futures]
                for helper in spec.helpers:  # uses_before / uses_after: one instance each
                    self.instances[helper.name] = [self._construct(helper, 0)]
        except BaseException:
            self.close()
            raise

    def _construct(self, spec: ExecutorSpec, shard: int) -> Executor:
        return construct_executor(spec, shard, workspace=self.workspace)

    def close(self) -> None:
        """Close every executor (errors are logged, so one cannot stop the others closing)."""
        for name, shards in self.instances.items():
            for shard, instance in enumerate(shards):
                try:
                    instance.close()
                except Exception:  # noqa: BLE001
                    logger.exception("executor %r shard %d failed to close", name, shard)
        self.instances.clear()
        self._pool.shutdown(wait=True)

    # --- requests ---

    def process(self, endpoint: str, docs: DocumentArray, parameters: Mapping[str, Any],
                target_executor: str | None = None) -> StageOutput:
        """Run one request batch through the DAG; raise FlowError naming a failing executor.
        With ``target_executor`` only the executors it matches run (``stage.targeted``)."""
        outputs: dict[str, DocumentArray] = {GATEWAY: docs}
        uses_left = dict(self._consumers)
        results: dict[str, Any] = {}
        # per output: the dict results of the stages upstream of it, itself included
        # (what a consumer finds in ``parameters['__results__']``, ``stage.upstream_results``)
        seen: dict[str, dict[str, Any]] = {GATEWAY: {}}
        for spec in self.plan.executors:
            needs = spec.needs
            # one input: its results as they are (never edited: each stage makes new dicts)
            upstream = seen[needs[0]] if len(needs) == 1 else upstream_results(*(seen[need] for need in needs))
            inputs = [self._take(outputs, uses_left, need) for need in needs]
            if len(inputs) == 1:
                node_docs, docs_matrix = inputs[0], None
            else:
                docs_matrix = inputs
                node_docs = join_inputs(inputs)
            binding = spec.cls.binding_for(endpoint)
            if binding is None or not targeted(target_executor, spec.name):
                outputs[spec.name] = node_docs  # no method for this endpoint, or not targeted: pass through, as in Jina
                seen[spec.name] = upstream
                continue
            if docs_matrix is not None and spec.disable_reduce:
                node_docs = unreduced_inputs(docs_matrix)
            stage = self._stage(spec, endpoint, node_docs, parameters, docs_matrix, upstream)
            outputs[spec.name] = stage.docs
            if stage.results:
                results.update(stage.results)
                seen[spec.name] = {**upstream, **stage.results}
            else:
                seen[spec.name] = upstream
        sinks = [self._take(outputs, uses_left, sink) for sink in self.plan.sinks]
        final = sinks[0] if len(sinks) == 1 else merge(sinks)
        return StageOutput(final, results)

    def _stage(self, spec: ExecutorSpec, endpoint: str, docs: DocumentArray, parameters: Mapping[str, Any],
               docs_matrix: list[DocumentArray] | None, upstream: Mapping[str, Any]) -> StageOutput:
        """Run a stage, under its executor's lock and reported to observers when asked for."""
        lock = self._executor_locks.get(spec.name)
        if lock is None and not self._observers:
            return self._run_stage(spec, endpoint, docs, parameters, docs_matrix, upstream)
        with lock or nullcontext():
            started = time.perf_counter()
            failed = True
            try:
                stage = self._run_stage(spec, endpoint, docs, parameters, docs_matrix, upstream)
                failed = False
                return stage
            finally:
                for observer in self._observers:
                    observer.observe_executor(spec.name, endpoint, time.perf_counter() - started, failed)

    def _take(self, outputs: dict[str, DocumentArray], uses_left: dict[str, int], name: str) -> DocumentArray:
        """An output for one consumer: the original for the last consumer, copies before."""
        uses_left[name] -= 1
        docs = outputs[name]
        return docs if uses_left[name] == 0 else copy_docs(docs)

    def _run_stage(
        self,
        spec: ExecutorSpec,
        endpoint: str,
        docs: DocumentArray,
        request_parameters: Mapping[str, Any],
        docs_matrix: list[DocumentArray] | None,
        upstream: Mapping[str, Any],
    ) -> StageOutput:
        """One stage: its uses_before (a join's needs' outputs, ``docs_matrix``, are its),
        its shards, its uses_after (every shard's answer) or the built-in combine. Each sees
        the results of what ran before it in ``parameters['__results__']``."""
        shards = self.instances[spec.name]
        binding = spec.cls.binding_for(endpoint)
        assert binding is not None
        helper_results: dict[str, Any] = {}
        if spec.uses_before is not None and spec.uses_before.cls.binding_for(endpoint) is not None:
            docs = self._run_helper(spec.uses_before, endpoint, docs, request_parameters, docs_matrix,
                                    helper_results, upstream)
            docs_matrix = None  # the join's inputs were the uses_before's; the shards get its answer
        parameters = executor_parameters(request_parameters, spec.name, {**upstream, **helper_results})
        after = spec.uses_after if spec.uses_after is not None and \
            spec.uses_after.cls.binding_for(endpoint) is not None else None

        def call(shard: int, shard_docs: DocumentArray) -> tuple[DocumentArray, dict | None]:
            # each shard its own parameters dict, as each Lambda has: one shard's edit (a pop)
            # reaches neither its siblings nor the merge
            own = parameters if len(shards) == 1 else dict(parameters)
            return invoke_shard(shards[shard], binding, spec, shard, endpoint, shard_docs, own, docs_matrix)

        if len(shards) == 1:
            check_request(shards[0], spec, 0, endpoint, docs, parameters)
            out_docs, result = call(0, docs)
            own = {results_key(spec.name): result} if result is not None else {}
            if after is not None:  # Jina's tail: the one answer, as a docs_matrix of one
                after_docs, after_matrix = uses_after_input([out_docs])
                out_docs = self._run_helper(after, endpoint, after_docs, request_parameters, after_matrix,
                                            helper_results, {**upstream, **helper_results, **own})
            return StageOutput(out_docs, {**helper_results, **own})

        mode = spec.polling.mode(endpoint)
        parts = shard_parts(docs, len(shards), mode)
        work = [
            (shard, docs if positions is None else DocumentArray._wrap([docs._docs[p] for p in positions]))
            for shard, positions in enumerate(parts)
            if positions is None or positions
        ]
        for shard, _ in work:  # every shard that will run checks the whole request first, as on AWS
            check_request(shards[shard], spec, shard, endpoint, docs, parameters)
        if mode == "ALL":  # every shard edits its own copy
            work = [(shard, shard_docs if shard == 0 else copy_docs(shard_docs)) for shard, shard_docs in work]
        answers = self._run_shards(spec.name, endpoint, call, work)
        shard_results: list[dict | None] = [None] * len(shards)
        shard_docs: list[DocumentArray | None] = [None] * len(shards)
        for (shard, _), (answer, result) in zip(work, answers):
            shard_results[shard] = result
            shard_docs[shard] = answer
        results = stage_results(spec.name, shard_results)
        if after is not None:
            after_docs, after_matrix = uses_after_input(shard_docs)
            combined = self._run_helper(after, endpoint, after_docs, request_parameters, after_matrix,
                                        helper_results, {**upstream, **helper_results, **results})
        else:
            combined = combine_shards(mode, docs.ids, parts, shard_docs, parameters)
        return StageOutput(combined, {**helper_results, **results})

    def _run_helper(self, helper: ExecutorSpec, endpoint: str, docs: DocumentArray, parameters: Mapping[str, Any],
                    docs_matrix: list[DocumentArray] | None, results: dict[str, Any],
                    upstream: Mapping[str, Any]) -> DocumentArray:
        """Run a stage's uses_before or uses_after executor; its dict result lands in ``results``."""
        instance = self.instances[helper.name][0]
        binding = helper.cls.binding_for(endpoint)
        own = executor_parameters(parameters, helper.name, upstream)
        check_request(instance, helper, 0, endpoint, docs, own)
        out, result = invoke_shard(instance, binding, helper, 0, endpoint, docs, own, docs_matrix)
        if result is not None:
            results[results_key(helper.name)] = result
        return out

    def _run_shards(self, executor: str, endpoint: str, call, work):
        """Run a stage's shard calls in parallel threads, or one after another on this
        thread, whichever has been faster for this executor, endpoint and request size
        (by powers of two: one query and a batch of a hundred are learnt apart).

        Threads pay off when shards do real work (numpy releases the GIL); for shard calls
        of a few hundred microseconds the hand-off costs more than it saves.
        """
        key = (executor, endpoint, sum(len(docs) for _, docs in work).bit_length())
        chooser = self._modes.get(key)
        if chooser is None:
            chooser = self._modes[key] = ModeChooser()
        parallel = chooser.choose() if len(work) > 1 else False
        started = time.perf_counter()
        if parallel:
            with blas_threads.shared_by(len(work)):  # the cores shared, not each shard's BLAS on all
                futures: list[Future] = [self._pool.submit(_guarded, call, shard, docs) for shard, docs in work[1:]]
                outcomes = [_guarded(call, *work[0])] + [f.result() for f in futures]
        else:
            outcomes = [_guarded(call, shard, docs) for shard, docs in work]
        if len(work) > 1:
            chooser.record(parallel, time.perf_counter() - started)
        failed = [shard for (shard, _), (_, error) in zip(work, outcomes) if error is not None]
        if failed:
            committed = [shard for (shard, _), (_, error) in zip(work, outcomes) if error is None]
            raise next(error for _, error in outcomes if error is not None).with_shards(committed, failed)
        return [answer for answer, _ in outcomes]


class ModeChooser:
    """Learns whether a stage runs faster with its shards in parallel or in sequence:
    tries both, then takes the one whose last ``WINDOW`` calls have the lower median,
    re-trying the other now and then (a shard's cost changes as its index grows).

    A median, not a mean: a call that does rare extra work in either mode (a write that
    triggers a compaction costs several times an ordinary one) must not make the other
    mode look faster for the calls that follow. And each mode runs ``EXPLORE`` times,
    alternately, before the choice: a mode's first call also pays one-time costs (threads
    started, the BLAS libraries inspected, caches filled), and as the mode's only sample
    that one slow call would hand every call until the next retry to the other mode."""

    RETRY_EVERY = 32
    WINDOW = 5
    EXPLORE = 2

    def __init__(self) -> None:
        self.samples: dict[bool, deque[float]] = {True: deque(maxlen=self.WINDOW), False: deque(maxlen=self.WINDOW)}
        self.median: dict[bool, float | None] = {True: None, False: None}
        self.calls = 0

    def choose(self) -> bool:
        self.calls += 1
        tried_parallel, tried_sequential = len(self.samples[True]), len(self.samples[False])
        if min(tried_parallel, tried_sequential) < self.EXPLORE:
            return tried_parallel <= tried_sequential  # parallel, sequential, parallel, ...
        parallel, sequential = self.median[True], self.median[False]
        if parallel is None or sequential is None:  # another request is recording its sample just now
            return parallel is None
        faster = parallel <= sequential
        return (not faster) if self.calls % self.RETRY_EVERY == 0 else faster

    def record(self, parallel: bool, seconds: float) -> None:
        window = self.samples[parallel]
        window.append(seconds)
        self.median[parallel] = sorted(window)[(len(window) - 1) // 2]  # of two, the faster


def _guarded(call, shard: int, docs: DocumentArray):
    """(answer, error) of one shard call: errors are returned so that every shard
    finishes before the first failure is raised."""
    try:
        return call(shard, docs), None
    except FlowError as error:
        return None, error


