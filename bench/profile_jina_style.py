"""Where an embedded Jina-style ``/query`` spends its time beyond the work (bench/jina_style.py).

Indexes the corpus into the Jina-style Flow and into its floor, then:

1. times ``--queries`` queries on both, interleaved, with no profiler: the framework's cost
   per query is faasflow's median minus the floor's;
2. times the same queries stage by stage (the engine's stage observer) beside the floor's
   matching parts (featurize; the three shards' searches; the sort), the store's own method
   on three shards beside the floor's three searches, and the featurizer stage beside that
   of the same Flow with the featurizer written without ``async``;
3. micro-times each framework step on the objects of a real query (no profiler; the best
   of ``--rounds`` rounds of ``--repeat`` calls each), in µs per query, each beside what the
   floor does instead where it does anything;
4. profiles the queries with cProfile and lists the functions with the most own time, and
   the engine's steps by cumulative time (µs per query, the profiler's own cost included:
   read the shares, and step 3 for the amounts). cProfile sees the calling thread only, so
   the shards are kept on it while profiling (``ModeChooser.choose`` answers "in sequence",
   which is what the engine picks for these shards unprofiled).

    python bench/profile_jina_style.py [--docs 10000] [--queries 500] [--top 30]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.jina_style import (  # noqa: E402
    LIMIT,
    METRIC,
    N_DIM,
    REQUEST_SIZE,
    SHARDS,
    JinaStyleFaasflow,
    JinaStyleFloor,
    JinaStyleRanker,
    JinaStyleStore,
    Line,
)
from examples.common import load_corpus  # noqa: E402
from examples.sharded_search.corpus import write_corpus  # noqa: E402
from faasflow import Document, DocumentArray, Executor, Flow, requests  # noqa: E402
from faasflow.codec import to_wire_docs, wire_form  # noqa: E402
from faasflow.engine import ModeChooser  # noqa: E402
from faasflow.executor import _run_coroutine, call_endpoint  # noqa: E402
from faasflow.features import feature_hashing  # noqa: E402
from faasflow.request import make_response, new_request_id  # noqa: E402
from faasflow.search import score_matrix, top_k  # noqa: E402
from faasflow.sharding import sort_by_score  # noqa: E402
from faasflow.stage import combine_shards, copy_docs, executor_parameters, shard_parts  # noqa: E402


def per_call_us(fn: Callable[[], Any], repeat: int, rounds: int) -> float:
    """The best over ``rounds`` of the mean µs of ``repeat`` calls of ``fn``."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            fn()
        samples.append((time.perf_counter() - started) / repeat * 1e6)
    return min(samples)


def interleaved(faasflow: JinaStyleFaasflow, floor: JinaStyleFloor, texts: list[str]) -> tuple[float, float]:
    lat: dict[str, list[float]] = {"faasflow": [], "floor": []}
    for number, text in enumerate(texts):
        order = (faasflow, floor) if number % 2 == 0 else (floor, faasflow)
        for engine in order:
            started = time.perf_counter()
            engine.query(text)
            lat[engine.name].append(time.perf_counter() - started)
    return statistics.median(lat["faasflow"]) * 1e6, statistics.median(lat["floor"]) * 1e6


class StageTimes:
    """The engine's stage observer: each /query stage's seconds."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}

    def observe_executor(self, executor: str, endpoint: str, seconds: float, failed: bool) -> None:
        if endpoint == "/query":
            self.seconds.setdefault(executor, []).append(seconds)


def stage_breakdown(faasflow: JinaStyleFaasflow, floor: JinaStyleFloor, texts: list[str]) -> None:
    """Median µs of each stage, beside the floor's matching part, interleaved."""
    engine = faasflow.flow._engine
    observer = StageTimes()
    engine.add_observer(observer)
    floor_parts: dict[str, list[float]] = {"featurizer": [], "db": [], "ranker": []}
    totals: list[float] = []
    try:
        for text in texts:
            started = time.perf_counter()
            faasflow.query(text)
            totals.append(time.perf_counter() - started)
            started = time.perf_counter()
            embedding = feature_hashing(Line("", text), n_dim=N_DIM)
            embedded = time.perf_counter()
            hits: list[tuple[str, str, float]] = []
            for shard in floor.shards:
                hits.extend(shard.search(embedding, LIMIT))
            searched = time.perf_counter()
            hits.sort(key=itemgetter(2))
            floor_parts["featurizer"].append(embedded - started)
            floor_parts["db"].append(searched - embedded)
            floor_parts["ranker"].append(time.perf_counter() - searched)
    finally:
        engine._observers.remove(observer)
    print("\nstage by stage, median µs per query (the engine's observer; the floor's part beside it):")
    for stage in ("featurizer", "db", "ranker"):
        ours = statistics.median(observer.seconds[stage]) * 1e6
        bare = statistics.median(floor_parts[stage]) * 1e6
        print(f"  {stage:<11} faasflow {ours:>7.0f}   floor {bare:>7.0f}   difference {ours - bare:>6.0f}")
    outside = [total - sum(observer.seconds[stage][number] for stage in ("featurizer", "db", "ranker"))
               for number, total in enumerate(totals)]
    print(f"  outside the stages (Flow.post, run_post, Flow.process, engine.process, the query Document): "
          f"{statistics.median(outside) * 1e6:.0f} µs")

    # the store's own method on three shards (each on its own copy), against the floor's searches
    stores: list[JinaStyleStore] = engine.instances["db"]
    own: list[float] = []
    bare_search: list[float] = []
    for text in texts:
        query = Document(text=text)
        query.embedding = feature_hashing(query, n_dim=N_DIM)
        copies = [copy_docs(DocumentArray([query])) for _ in stores]
        started = time.perf_counter()
        for store, docs in zip(stores, copies):
            store.query(docs=docs, parameters={})
        own.append(time.perf_counter() - started)
        started = time.perf_counter()
        for shard in floor.shards:
            shard.search(query.embedding, LIMIT)
        bare_search.append(time.perf_counter() - started)
    ours, bare = statistics.median(own) * 1e6, statistics.median(bare_search) * 1e6
    print(f"  JinaStyleStore.query x{SHARDS} called directly {ours:.0f} µs, floor's searches {bare:.0f} µs: "
          f"{ours - bare:.0f} µs in the executor's Documents")
    manifest = statistics.median(
        _timed(lambda: [shard.log.manifest() for shard in floor.shards]) for _ in range(len(texts))) * 1e6
    print(f"  (both include the manifest reads: {manifest:.0f} µs for the {SHARDS} shards' manifests of "
          f"{len(floor.shards[0].log.manifest().segments)} segments each)")


class SyncFeaturizer(Executor):
    """JinaStyleFeaturizer's method without ``async``: the same work, called plainly."""

    @requests
    def featurize(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            doc.embedding = feature_hashing(doc, n_dim=N_DIM)


def async_in_situ(faasflow: JinaStyleFaasflow, docs: DocumentArray, texts: list[str], workspace: str) -> None:
    """The featurizer stage of the Jina-style Flow beside that of the same Flow with the
    featurizer written without ``async``, queries interleaved: what the event loop costs in
    place (the micro-timing below sees it on warm caches)."""
    plain = (
        Flow(workspace=workspace)
        .add(name="featurizer", uses=SyncFeaturizer)
        .add(name="db", uses=JinaStyleStore, shards=SHARDS, polling={"/query": "ALL", "/index": "ANY"})
        .add(name="ranker", uses=JinaStyleRanker)
    )
    with plain:
        plain.post("/index", docs, request_size=REQUEST_SIZE)
        observers = {"async": StageTimes(), "sync": StageTimes()}
        flows = {"async": faasflow.flow, "sync": plain}
        totals: dict[str, list[float]] = {"async": [], "sync": []}
        for kind, flow in flows.items():
            flow._engine.add_observer(observers[kind])
        try:
            for number, text in enumerate(texts):
                for kind in ("async", "sync") if number % 2 == 0 else ("sync", "async"):
                    started = time.perf_counter()
                    flows[kind].post("/query", Document(text=text))
                    totals[kind].append(time.perf_counter() - started)
        finally:
            faasflow.flow._engine._observers.remove(observers["async"])
    stage = {kind: statistics.median(observers[kind].seconds["featurizer"]) * 1e6 for kind in flows}
    whole = {kind: statistics.median(totals[kind]) * 1e6 for kind in flows}
    print(f"\nasync featurizer in place: its stage {stage['async']:.0f} µs against {stage['sync']:.0f} µs written "
          f"without async ({stage['async'] - stage['sync']:.0f} µs); whole query p50 {whole['async']:.0f} against "
          f"{whole['sync']:.0f} µs")


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def micro_steps(faasflow: JinaStyleFaasflow, floor: JinaStyleFloor, text: str, repeat: int,
                rounds: int) -> list[tuple[str, float, str]]:
    """(step, µs per query, where) for each framework step of one query."""
    flow = faasflow.flow
    engine = flow._engine
    stores: list[JinaStyleStore] = engine.instances["db"]
    featurizer = engine.instances["featurizer"][0]
    query = Document(text=text)
    query.embedding = feature_hashing(query, n_dim=N_DIM)
    request = DocumentArray([query])
    embedding = query.embedding

    def shard_answer(store: JinaStyleStore) -> DocumentArray:
        own = copy_docs(request)
        store.query(docs=own, parameters={})
        return own

    answers = [shard_answer(s) for s in stores]
    stored_pairs = []  # the 60 (stored doc, score) pairs the shards turn into matches
    for store in stores:
        indices, values = top_k(score_matrix(embedding, store._embeddings(), METRIC), LIMIT, METRIC)
        stored_pairs += [(store._docs[p], v) for p, v in zip(indices[0].tolist(), values[0].tolist())]
    merged = combine_shards("ALL", request.ids, [None] * SHARDS, [copy_docs(a) for a in answers], {})
    matches_60 = list(merged[0].matches)
    tuples_60 = [h for shard in floor.shards for h in shard.search(embedding, LIMIT)]

    steps: list[tuple[str, float, str]] = []

    def add(step: str, us: float, where: str) -> None:
        steps.append((step, us, where))

    # the executor's own Document work: 60 matches built, scored and appended, against tuples
    def build_matches() -> None:
        doc = Document(id=query.id)
        for stored, value in stored_pairs:
            match = Document(id=stored.id, text=stored.text)
            match.scores[METRIC].value = value
            doc.matches.append(match)

    def build_tuples() -> None:
        out = []
        for stored, value in stored_pairs:
            out.append((stored.id, stored.text, value))

    def construct_only() -> None:
        for stored, _ in stored_pairs:
            Document(id=stored.id, text=stored.text)

    def construct_and_score() -> None:
        for stored, value in stored_pairs:
            match = Document(id=stored.id, text=stored.text)
            match.scores[METRIC].value = value

    both = per_call_us(build_matches, repeat, rounds)
    bare = per_call_us(build_tuples, repeat, rounds)
    made = per_call_us(construct_only, repeat, rounds)
    scored = per_call_us(construct_and_score, repeat, rounds)
    gc.disable()
    try:
        without_gc = per_call_us(build_matches, repeat, rounds)
    finally:
        gc.enable()
    add("60 match Documents (construct + score + matches.append), less the floor's 60 tuples", both - bare,
        f"JinaStyleStore.query's loop ({both:.1f} vs tuples {bare:.1f})")
    add("  of which Document(id=, text=) x60", made, "Document.__init__ (faasflow/document.py:268)")
    add("  of which match.scores[m].value = v x60 (a new ScoreMap and NamedScore each)", scored - made,
        "Document.scores (document.py:517), ScoreMap.__missing__ (document.py:146), NamedScore.__init__")
    add("  of which doc.matches.append x60", both - scored,
        "Document.matches (document.py:527), _ChildArray.append (array.py:619) -> MatchArray._stamp (array.py:664)"
        " -> adjacency into _extra (document.py:220) -> DocumentArray.append (array.py:124)")
    add("  (the garbage collector's share of those)", both - without_gc, "gen-0 collections of the new objects")

    # the ranker: 60 Documents sorted by their score and set back, against tuples sorted
    def rank_docs() -> None:
        doc = Document(id=query.id)
        ranked = sorted(matches_60, key=lambda m: m.scores[METRIC].value)
        doc.matches = ranked

    def rank_tuples() -> None:
        sorted(tuples_60, key=itemgetter(2))

    ranked_docs = per_call_us(rank_docs, repeat, rounds)
    ranked_tuples = per_call_us(rank_tuples, repeat, rounds)
    add("ranker: sort 60 matches by scores[m].value + doc.matches = ..., less the floor's tuple sort",
        ranked_docs - ranked_tuples, f"JinaStyleRanker.rank ({ranked_docs:.1f} vs {ranked_tuples:.1f})")

    def set_matches() -> None:
        doc = Document(id=query.id)
        doc.matches = ranked_60

    ranked_60 = sorted(matches_60, key=lambda m: m.scores[METRIC].value)
    add("  of which doc.matches = <list of 60> (checks each, stamps adjacency on each)",
        per_call_us(set_matches, repeat, rounds),
        "Document.matches setter -> _ChildArray._adopting -> MatchArray._stamp")

    # the engine
    add("input copy + wire form of the posted doc", per_call_us(
        lambda: to_wire_docs(DocumentArray._wrap([d.copy() for d in request])), repeat, rounds),
        "Flow.process (faasflow/flow.py)")
    add("ALL broadcast: copies of the featurized query for shards 1 and 2",
        per_call_us(lambda: [copy_docs(request) for _ in range(SHARDS - 1)], repeat, rounds),
        "LocalEngine._run_stage -> stage.copy_docs")

    def merge_answers() -> None:
        combine_shards("ALL", request.ids, [None] * SHARDS, [copy_docs(a) for a in answers], {})

    copies = per_call_us(lambda: [copy_docs(a) for a in answers], repeat, rounds)
    add("ALL merge of the 3 answers (reduce by id, concatenate + re-sort 60 matches)",
        per_call_us(merge_answers, repeat, rounds) - copies, "stage.combine_shards -> sharding.merge")
    add("  of which sort_by_score of the 60 merged matches", per_call_us(lambda: sort_by_score(matches_60), repeat,
        rounds), "sharding.sort_by_score (then the matches setter again, as above)")
    add("wire-form walks of every executor output (1 + 3x20 + 60 docs)", per_call_us(
        lambda: (to_wire_docs(request), [to_wire_docs(a) for a in answers], to_wire_docs(merged)),
        repeat, rounds), "stage.invoke_shard -> codec.to_wire_docs")

    async def noop() -> None:
        return None

    add("async dispatch of the featurizer (run_until_complete), less a plain call",
        per_call_us(lambda: _run_coroutine(noop()), repeat, rounds)
        - per_call_us(lambda: None, repeat, rounds), "executor._run_coroutine")
    binding = type(featurizer).binding_for("/query")
    asyncio_featurize = per_call_us(
        lambda: call_endpoint(featurizer, binding, {"docs": request, "parameters": {}}), repeat, rounds)
    plain_featurize = per_call_us(lambda: feature_hashing(query, n_dim=N_DIM), repeat, rounds)
    add("  the featurizer call, whole, less feature_hashing itself", asyncio_featurize - plain_featurize,
        f"executor.call_endpoint ({asyncio_featurize:.1f} vs {plain_featurize:.1f})")

    def parameters_work() -> None:
        params = wire_form(dict({}), "parameters")
        for name in ("featurizer", "db", "ranker"):
            own = executor_parameters(params, name)
        for _ in range(SHARDS):
            dict(own)

    add("parameters: wire form, 3 stages' executor_parameters, a dict per shard",
        per_call_us(parameters_work, repeat, rounds), "stage.executor_parameters, LocalEngine._run_stage")
    add("shard routing (shard_parts ALL) + response object", per_call_us(
        lambda: (shard_parts(request, SHARDS, "ALL"), make_response(new_request_id(), "/query", request, {})),
        repeat, rounds), "stage.shard_parts, request.make_response")
    return steps


def profile_queries(faasflow: JinaStyleFaasflow, texts: list[str], top: int) -> None:
    profiler = cProfile.Profile()
    # cProfile sees this thread only, and under it the engine would learn that its pool
    # threads win (the profiler slows this thread alone): keep the shards on this thread, as
    # the engine runs them unprofiled (it learns that in sequence is faster for these shards)
    with mock.patch.object(ModeChooser, "choose", return_value=False):
        started = time.perf_counter()
        profiler.enable()
        for text in texts:
            faasflow.query(text)
        profiler.disable()
        elapsed = time.perf_counter() - started
    n = len(texts)
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tottime, cumtime, calls, filename, line, name))

    def where(filename: str, line: int) -> str:
        path = Path(filename)
        try:
            return f"{path.relative_to(ROOT)}:{line}"
        except ValueError:
            return f"{path.name}:{line}" if line else filename

    print(f"\ncProfile: {n} queries, {elapsed / n * 1e6:.0f} µs per query under the profiler")
    print(f"top {top} by own time, per query:")
    print(f"{'own µs':>8} {'cum µs':>8} {'calls':>7}  function")
    for tottime, cumtime, calls, filename, line, name in sorted(rows, reverse=True)[:top]:
        shown = f"{name} ({where(filename, line)})"
        print(f"{tottime / n * 1e6:>8.1f} {cumtime / n * 1e6:>8.1f} {calls / n:>7.1f}  {shown}")

    by_module: dict[str, float] = {}
    for tottime, _cum, _calls, filename, _line, _name in rows:
        by_module[_module_of(filename)] = by_module.get(_module_of(filename), 0.0) + tottime
    total = sum(by_module.values())
    print("\nown time by module, per query (share of the profiled total):")
    for module, seconds in sorted(by_module.items(), key=lambda item: -item[1])[:20]:
        print(f"{seconds / n * 1e6:>8.1f} µs {seconds / total:>6.1%}  {module}")

    wanted = [
        ("faasflow/flow.py", "post"), ("faasflow/posting.py", "run_post"), ("faasflow/flow.py", "process"),
        ("faasflow/engine.py", "process"), ("faasflow/engine.py", "_run_stage"), ("faasflow/engine.py", "_run_shards"),
        ("faasflow/stage.py", "invoke_shard"), ("faasflow/executor.py", "call_endpoint"),
        ("faasflow/executor.py", "_run_coroutine"), ("faasflow/stage.py", "copy_docs"),
        ("faasflow/stage.py", "combine_shards"), ("faasflow/sharding.py", "merge"),
        ("faasflow/sharding.py", "sort_by_score"), ("faasflow/codec.py", "to_wire_docs"),
        ("faasflow/codec.py", "wire_form"), ("faasflow/stage.py", "executor_parameters"),
        ("faasflow/stage.py", "check_request"), ("faasflow/document.py", "__init__"),
        ("faasflow/document.py", "copy"), ("faasflow/array.py", "append"), ("faasflow/array.py", "_adopting"),
        ("bench/jina_style.py", "featurize"), ("bench/jina_style.py", "query"), ("bench/jina_style.py", "rank"),
        ("faasflow/features.py", "feature_hashing"), ("faasflow/search.py", "score_matrix"),
        ("faasflow/search.py", "top_k"), ("faasflow/storage/segments.py", "manifest"),
    ]
    print("\nsteps by cumulative time, per query:")
    print(f"{'cum µs':>8} {'calls':>7}  function")
    for suffix, name in wanted:
        for _own, cumtime, calls, filename, line, fname in rows:
            if fname == name and filename.endswith(suffix):
                print(f"{cumtime / n * 1e6:>8.1f} {calls / n:>7.1f}  {fname} ({where(filename, line)})")


def _module_of(filename: str) -> str:
    """What a profiled function belongs to: a file of this repo, a library, or the builtins."""
    if filename == "~":
        return "builtins (C functions, numpy's included)"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        pass
    if "asyncio" in parts:
        return "asyncio (stdlib)"
    return f"{path.name} (stdlib)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    corpus = write_corpus(ROOT / ".faasflow" / "data" / f"corpus-{args.docs}.txt", count=args.docs)
    docs = load_corpus(corpus)
    rng = random.Random(0)
    texts = [docs[i].text for i in (rng.randrange(len(docs)) for _ in range(args.queries))]
    scratch = ROOT / ".faasflow" / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as faasflow_ws, tempfile.TemporaryDirectory(dir=scratch) as floor_ws:
        with JinaStyleFaasflow(faasflow_ws) as faasflow, JinaStyleFloor(floor_ws) as floor:
            faasflow.index(docs)
            floor.index(docs)
            for text in texts[:20]:  # warm-up: stacked columns, caches, the engine's mode choice
                faasflow.query(text)
                floor.query(text)
            faasflow_us, floor_us = interleaved(faasflow, floor, texts)
            print(f"Jina-style /query, {args.docs:,} docs, {SHARDS} shards, {LIMIT} matches a shard, "
                  f"{args.queries} queries interleaved, no profiler:")
            print(f"  faasflow p50 {faasflow_us:.0f} µs, floor p50 {floor_us:.0f} µs: "
                  f"{faasflow_us - floor_us:.0f} µs a query over the floor ({faasflow_us / floor_us:.2f}x)")

            stage_breakdown(faasflow, floor, texts)
            with tempfile.TemporaryDirectory(dir=scratch) as sync_ws:
                async_in_situ(faasflow, docs, texts, sync_ws)

            steps = micro_steps(faasflow, floor, texts[0], args.repeat, args.rounds)
            print("\nframework steps of one query, micro-timed (µs per query):")
            for step, us, where in steps:
                print(f"{us:>8.1f}  {step}  [{where}]")
            total = sum(us for step, us, _ in steps if not step.startswith("  "))
            print(f"{total:>8.1f}  sum of the top-level steps (against {faasflow_us - floor_us:.0f} µs measured)")

            profile_queries(faasflow, texts, args.top)


if __name__ == "__main__":
    main()
