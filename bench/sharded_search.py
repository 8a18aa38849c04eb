"""Sharded search: index 10,000 docs, then 200 single-doc queries, three ways in one run.

* faasflow — the Flow, embedded;
* floor    — the same featurize and search code called directly in a plain loop, shards
             one after another, no framework: what the work itself costs;
* jina     — (with ``--vs-jina``) the same topology and the same featurizer and search
             code on Jina 3, installed into its own virtual env by this script.

Two variants of the executors, each run all three ways (``--variant``, default both):

* plain      — the reference app (orchestrator/flow.yml, functions/): a durable
               VectorIndexer per shard returning 3 hits each, a ranker sorting the hits;
               its floor calls the executors' own methods;
* jina-style — executors written the way Jina users write them (bench/jina_style.py): an
               ``async`` featurizer, a store that builds 20 match Documents per shard on
               the query doc, a ranker that sorts the merged matches; its floor calls the
               same featurize, write and search code on tuples, and a second one,
               ``methods``, calls the executors' own methods in a plain loop (as the
               plain variant's floor does): faasflow / methods is the framework's own
               share, the match Documents the executors build being the user's code.

Both: 3 shards, /index ANY, /query ALL. Prints, per variant, index docs/s and query p50/p95
ms for each engine, the ratios, and whether the engines returned the same top results.

    python bench/sharded_search.py [--docs 10000] [--queries 200] [--variant both] [--vs-jina]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.methods_floor import SHARDS, MethodsFloor  # noqa: E402
from examples.common import load_corpus  # noqa: E402
from examples.sharded_search.corpus import write_corpus  # noqa: E402
from faasflow import Document, DocumentArray, Flow  # noqa: E402
from functions.doc_store import DocStore  # noqa: E402
from functions.featurizer import Featurizer  # noqa: E402
from functions.ranker import Ranker  # noqa: E402


def query_lines(docs: list[Document], count: int) -> list[str]:
    """The queried lines: indexed lines picked by random.Random(0).sample (same on every engine)."""
    return [docs[i].text for i in random.Random(0).sample(range(len(docs)), count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(engine: str, indexed: int, index_s: float, latencies: list[float], top_ids: list[list[str]]) -> dict:
    return {
        "engine": engine,
        "index_docs_per_s": indexed / index_s,
        "query_p50_ms": statistics.median(latencies) * 1e3,
        "query_p95_ms": percentile(latencies, 0.95) * 1e3,
        "top_ids": top_ids,
    }


class FaasflowEngine:
    """The reference app's Flow, embedded."""

    name = "faasflow"

    def __init__(self, workspace: str):
        self.flow = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
        self.flow.workspace = workspace

    def __enter__(self) -> FaasflowEngine:
        self.flow.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flow.close()

    def index(self, docs: list[Document]) -> None:
        self.flow.post("/index", docs, request_size=100)

    def query(self, text: str) -> DocumentArray:
        return self.flow.post("/query", Document(text=text))

    @staticmethod
    def top_ids(answer: DocumentArray) -> list[str]:
        return answer.ids


class FloorEngine(MethodsFloor):
    """The reference app's executors' own methods in a plain loop: no Flow, no threads, no copies."""

    def __init__(self, workspace: str):
        super().__init__(workspace, Featurizer, DocStore, Ranker)

    def query(self, text: str) -> DocumentArray:
        request = DocumentArray([Document(text=text)])
        self.featurizer.featurize(docs=request)
        answers = DocumentArray()
        for store in self.stores:
            answers.extend(store.query(docs=request, parameters={}))
        return self.ranker.rank(docs=answers, parameters={})

    @staticmethod
    def top_ids(answer: DocumentArray) -> list[str]:
        return answer.ids


def run_side_by_side(engines: list, docs: list[Document], queries: list[str]) -> list[dict]:
    """Index on each engine, then send every query to every engine in turn (the order
    alternating), so that the machine's drift affects all engines alike."""
    index_seconds = []
    for engine in engines:
        started = time.perf_counter()
        engine.index(docs)
        index_seconds.append(time.perf_counter() - started)
        engine.query(queries[0])  # warm-up: the first query stacks each shard's embeddings
    latencies: list[list[float]] = [[] for _ in engines]
    top_ids: list[list[list[str]]] = [[] for _ in engines]
    for number, text in enumerate(queries):
        order = range(len(engines)) if number % 2 == 0 else reversed(range(len(engines)))
        for position in order:
            started = time.perf_counter()
            answer = engines[position].query(text)
            latencies[position].append(time.perf_counter() - started)
            top_ids[position].append(engines[position].top_ids(answer))
    return [
        summarise(engine.name, len(docs), seconds, lat, ids)
        for engine, seconds, lat, ids in zip(engines, index_seconds, latencies, top_ids)
    ]


def run_jina(corpus: Path, count: int, queries: int, variant: str) -> dict:
    from bench.jina_env import ensure_jina_python

    python = ensure_jina_python()
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [
                str(python),
                str(ROOT / "bench" / "jina_sharded_search.py"),
                "--corpus",
                str(corpus),
                "--docs",
                str(count),
                "--queries",
                str(queries),
                "--request-size",
                "100",
                "--variant",
                variant,
                "--json-out",
                out.name,
            ],
            check=True,
            cwd=ROOT,
        )
        return json.loads(Path(out.name).read_text())


def same_top(a: dict, b: dict) -> str:
    """How many queries got the same best answer, the same top-3 ids (as a set), and the
    same ids in the same order all the way down."""
    firsts = sum(x[:1] == y[:1] for x, y in zip(a["top_ids"], b["top_ids"]))
    tops = sum(set(x[:3]) == set(y[:3]) for x, y in zip(a["top_ids"], b["top_ids"]))
    whole = sum(x == y for x, y in zip(a["top_ids"], b["top_ids"]))
    n = len(a["top_ids"])
    return f"{firsts}/{n} same first, {tops}/{n} same top-3, {whole}/{n} same whole ranking"


VARIANTS = ("plain", "jina-style")


def engines_of(variant: str, faasflow_ws: str, floor_ws: str, methods_ws: str) -> list:
    if variant == "plain":
        return [FaasflowEngine(faasflow_ws), FloorEngine(floor_ws)]
    from bench.jina_style import JinaStyleFaasflow, JinaStyleFloor, JinaStyleMethods

    return [JinaStyleFaasflow(faasflow_ws), JinaStyleFloor(floor_ws), JinaStyleMethods(methods_ws)]


def run_variant(variant: str, corpus: Path, docs: list[Document], queries: list[str], vs_jina: bool) -> list[dict]:
    # workspaces inside the project (not /tmp, whose file creation is slow on some machines)
    scratch = ROOT / ".faasflow" / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        workspaces = [stack.enter_context(tempfile.TemporaryDirectory(dir=scratch)) for _ in range(3)]
        engines = engines_of(variant, *workspaces)
        for engine in engines:
            stack.enter_context(engine)
        results = run_side_by_side(engines, docs, queries)
    if vs_jina:
        results.append(run_jina(corpus, len(docs), len(queries), variant))
    return results


def report(variant: str, results: list[dict], docs: list[Document], queries: list[str]) -> None:
    by_engine = {r["engine"]: r for r in results}
    print(
        f"\nsharded search, {variant} executors: {len(docs):,} docs indexed (request_size=100), "
        f"{len(queries)} single-doc queries, {SHARDS} shards"
    )
    print(f"{'engine':<10} {'index docs/s':>13} {'query p50 ms':>13} {'query p95 ms':>13}")
    for r in results:
        print(
            f"{r['engine']:<10} {r['index_docs_per_s']:>13,.0f} {r['query_p50_ms']:>13.3f} {r['query_p95_ms']:>13.3f}"
        )
    faasflow, floor = by_engine["faasflow"], by_engine["floor"]
    print(
        f"faasflow / floor: index throughput {faasflow['index_docs_per_s'] / floor['index_docs_per_s']:.2f}x "
        f"(target >= 0.90x), query p50 {faasflow['query_p50_ms'] / floor['query_p50_ms']:.2f}x (target <= 1.10x)"
    )
    print(f"results faasflow vs floor: {same_top(faasflow, floor)}")
    if "methods" in by_engine:
        methods = by_engine["methods"]
        print(
            f"faasflow / methods (the executors' own methods in a plain loop): query p50 "
            f"{faasflow['query_p50_ms'] / methods['query_p50_ms']:.2f}x (the framework's own share); "
            f"methods / floor {methods['query_p50_ms'] / floor['query_p50_ms']:.2f}x (the executors' Documents)"
        )
        print(f"results faasflow vs methods: {same_top(faasflow, methods)}")
    if "jina" in by_engine:
        jina = by_engine["jina"]
        print(
            f"faasflow / jina: index throughput {faasflow['index_docs_per_s'] / jina['index_docs_per_s']:.1f}x "
            f"(target >= 10x), query p50 {jina['query_p50_ms'] / faasflow['query_p50_ms']:.1f}x faster"
        )
        print(f"results faasflow vs jina: {same_top(faasflow, jina)}")
    id_of = {d.text: d.id for d in docs}
    exact = sum(ids[:1] == [id_of[q]] for ids, q in zip(faasflow["top_ids"], queries))
    print(f"faasflow: {exact}/{len(queries)} queries returned the queried line first")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--variant", choices=(*VARIANTS, "both"), default="both",
                        help="which executors: the reference app's, Jina-style ones, or both (default)")
    parser.add_argument("--vs-jina", action="store_true", help="also run the workload on Jina 3 (own venv)")
    args = parser.parse_args()

    corpus = write_corpus(ROOT / ".faasflow" / "data" / f"corpus-{args.docs}.txt", count=args.docs)
    docs = load_corpus(corpus)
    queries = query_lines(docs, args.queries)
    variants = VARIANTS if args.variant == "both" else (args.variant,)
    everything = {}
    for variant in variants:
        everything[variant] = run_variant(variant, corpus, docs, queries, args.vs_jina)
        report(variant, everything[variant], docs, queries)
    if len(variants) > 1:
        print(f"\n{'variant':<11} {'engine':<9} {'index docs/s':>13} {'query p50 ms':>13} {'query p95 ms':>13}"
              f" {'index vs floor':>15} {'p50 vs floor':>13}")
        for variant, results in everything.items():
            floor = next(r for r in results if r["engine"] == "floor")
            for r in results:
                print(
                    f"{variant:<11} {r['engine']:<9} {r['index_docs_per_s']:>13,.0f} {r['query_p50_ms']:>13.3f} "
                    f"{r['query_p95_ms']:>13.3f} {r['index_docs_per_s'] / floor['index_docs_per_s']:>14.2f}x "
                    f"{r['query_p50_ms'] / floor['query_p50_ms']:>12.2f}x"
                )


if __name__ == "__main__":
    main()
