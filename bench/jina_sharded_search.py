"""The sharded-search workload on a real Jina Flow, for comparison with faasflow.

    python bench/jina_sharded_search.py --corpus PATH --docs N --queries Q \\
        [--request-size 100] [--variant plain|jina-style] --json-out PATH

Run it with the python of the Jina venv (``bench.jina_env.ensure_jina_python()``), never the
project's: Jina is not a faasflow dependency.

The topology is ``orchestrator/flow.yml``'s: featurizer -> db (3 shards, /index ANY, /query ALL)
-> ranker, served over gRPC and entered with ``with flow:`` as Jina users do. The executors'
logic is faasflow's own (its feature hashing and its jaccard kernels, imported from the repo),
so the two engines differ only in how they move documents, not in what they compute.

Workload, the same as the faasflow side's: the first N corpus lines are indexed as
``Document(id=f"line-{n}", text=line)`` (n from 1) with ``request_size`` docs a request; after
one warm-up query, Q single-document queries are posted one at a time, their texts being the
corpus lines at ``random.Random(0).sample(range(N), Q)``. Latency percentiles are numpy's
(linear interpolation).

``--variant jina-style`` runs bench/jina_style.py's executors instead, as written there (only
the imports differ): an ``async`` featurizer, a store keeping a DocumentArray that writes each
/index request as a segment and builds 20 match Documents per shard on the query doc, and a
ranker sorting the query doc's matches, which Jina's ALL reduce has concatenated. Its
``top_ids`` are the query doc's match ids (20 per shard, so 60).

``top_ids`` holds each answer's ids as ranked (3 per shard, so 9). Jaccard ties are common, and
Jina's ANY polling deals /index requests to the shards by availability, so past rank 1 the ids
can differ from run to run and from faasflow's while the distances agree; rank 1 is the queried
line itself at distance 0 (``top1_is_query`` counts the queries where it is).
"""

# No `from __future__ import annotations`: Jina reads the handlers' annotations as classes.
import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # faasflow's kernels, used as-is by the executors below

# Before importing jina: no telemetry calls (there is no network to send them to), servers on
# loopback only, and no INFO logging in the measured loop.
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")
os.environ.setdefault("JINA_DEFAULT_HOST", "127.0.0.1")
os.environ.setdefault("JINA_LOG_LEVEL", "WARNING")
os.environ.setdefault("JINA_HIDE_SURVEY", "1")

import jina  # noqa: E402
import numpy as np  # noqa: E402
from jina import Document, DocumentArray, Executor, Flow, requests  # noqa: E402

from faasflow.columns import EmbeddingColumn  # noqa: E402
from faasflow.features import feature_hashing  # noqa: E402
from faasflow.search import score_matrix, top_k  # noqa: E402
from faasflow.storage.local import LocalStorage  # noqa: E402
from faasflow.storage.segments import SegmentLog  # noqa: E402

N_DIM = 256
METRIC = "jaccard"
DEFAULT_LIMIT = 3


class Featurizer(Executor):
    """faasflow's featurizer: a feature-hashing embedding of every doc, on every endpoint."""

    @requests
    def featurize(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            doc.embedding = feature_hashing(doc, n_dim=N_DIM)


class DocStore(Executor):
    """faasflow's DocStore: upserts docs by id; answers a query with its shard's top 3 by jaccard.

    Like faasflow's, it writes every /index request durably as a segment through the same
    segment log (a local folder per shard) and checks the manifest on every query. The
    stacked embedding matrix is kept between queries and dropped when docs arrive, as
    faasflow's ``EmbeddingColumn`` is, so a query costs the search, not a re-stack.
    """

    def __init__(self, state_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        shard = getattr(self.runtime_args, "shard_id", 0)
        self._log = SegmentLog(LocalStorage(Path(state_dir) / f"shard-{shard}-{os.getpid()}"))
        self._docs = DocumentArray()
        self._column: EmbeddingColumn | None = None

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs: Any) -> None:
        if len(docs):
            self._log.append(docs.to_bytes())
        for doc in docs:
            if doc.id in self._docs:
                self._docs[doc.id] = doc
            else:
                self._docs.append(doc)
        self._column = None

    def _embedding_column(self) -> EmbeddingColumn:
        if self._column is None:
            self._column = EmbeddingColumn(np.asarray(self._docs.embeddings))
        return self._column

    @requests(on="/query")
    def query(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> DocumentArray:
        self._log.manifest()  # as faasflow's DocStore: is there anything new to load?
        if not len(self._docs) or not len(docs):
            return DocumentArray()
        limit = int(parameters.get("limit", DEFAULT_LIMIT))
        scores = score_matrix(np.asarray(docs[0].embedding), self._embedding_column(), METRIC)
        indices, values = top_k(scores, limit, METRIC)
        found = DocumentArray()
        for position, value in zip(indices[0].tolist(), values[0].tolist(), strict=True):
            hit = Document(self._docs[position], copy=True)
            hit.scores[METRIC].value = value
            found.append(hit)
        return found


class Ranker(Executor):
    """faasflow's ranker: orders the shards' merged answers best first by jaccard distance."""

    @requests(on="/query")
    def rank(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> DocumentArray:
        ranked = sorted(docs, key=lambda d: d.scores[METRIC].value)
        limit = parameters.get("limit")
        return DocumentArray(ranked[: int(limit)] if limit is not None else ranked)


# --- the jina-style variant: bench/jina_style.py's executors, on Jina -------------------------

LIMIT = 20  # matches each shard builds per query


class JinaStyleFeaturizer(Executor):
    @requests
    async def featurize(self, docs: DocumentArray, **kwargs: Any) -> None:
        for doc in docs:
            doc.embedding = feature_hashing(doc, n_dim=N_DIM)


class JinaStyleStore(Executor):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._docs = DocumentArray()
        self._column: EmbeddingColumn | None = None  # the stacked embeddings, kept between queries
        self._log = SegmentLog(LocalStorage(Path(self.workspace) / "segments"))

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs: Any) -> None:
        if len(docs):
            self._log.append(docs.to_bytes())
        self._docs.extend(docs)
        self._column = None

    def _embeddings(self) -> EmbeddingColumn:
        if self._column is None:
            self._column = EmbeddingColumn(np.asarray(self._docs.embeddings))
        return self._column

    @requests(on="/query")
    def query(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> None:
        self._log.manifest()  # has another writer added a segment?
        if not len(self._docs):
            return
        limit = int(parameters.get("limit", LIMIT))
        column = self._embeddings()
        for doc in docs:
            scores = score_matrix(doc.embedding, column, METRIC)
            indices, values = top_k(scores, limit, METRIC)
            for position, value in zip(indices[0].tolist(), values[0].tolist()):
                stored = self._docs[position]
                match = Document(id=stored.id, text=stored.text)
                match.scores[METRIC].value = value
                doc.matches.append(match)


class JinaStyleRanker(Executor):
    @requests(on="/query")
    def rank(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> None:
        limit = parameters.get("limit")
        for doc in docs:
            ranked = sorted(doc.matches, key=lambda m: m.scores[METRIC].value)
            doc.matches = ranked[: int(limit)] if limit is not None else ranked


def build_jina_style_flow(state_dir: str, protocol: str = "grpc") -> Flow:
    """bench/jina_style.py's Flow, on Jina."""
    return (
        Flow(protocol=protocol)
        .add(name="featurizer", uses=JinaStyleFeaturizer)
        .add(name="db", uses=JinaStyleStore, workspace=state_dir, shards=3,
             polling={"/query": "ALL", "/index": "ANY"})
        .add(name="ranker", uses=JinaStyleRanker)
    )


def build_flow(state_dir: str, protocol: str = "grpc", variant: str = "plain") -> Flow:
    """orchestrator/flow.yml's topology, as a Jina Flow (``variant='jina-style'``: with
    bench/jina_style.py's executors)."""
    if variant == "jina-style":
        return build_jina_style_flow(state_dir, protocol)
    return (
        Flow(protocol=protocol)
        .add(name="featurizer", uses=Featurizer)
        .add(name="db", uses=DocStore, uses_with={"state_dir": state_dir}, shards=3,
             polling={"/query": "ALL", "/index": "ANY"})
        .add(name="ranker", uses=Ranker)
    )


def load_corpus(path: Path, count: int) -> list[Document]:
    lines = [line for line in path.read_text().splitlines() if line.strip()][:count]
    if len(lines) < count:
        raise SystemExit(f"{path} has {len(lines)} lines, fewer than --docs {count}")
    return [Document(id=f"line-{number}", text=line) for number, line in enumerate(lines, start=1)]


def answer_hits(answer: DocumentArray, variant: str) -> DocumentArray:
    """The ranked results: the answer's docs (plain), or its query doc's matches."""
    if variant == "jina-style":
        return answer[0].matches if len(answer) else DocumentArray()
    return answer


def run(corpus: Path, n_docs: int, n_queries: int, request_size: int, protocol: str = "grpc",
        variant: str = "plain") -> dict[str, Any]:
    docs = load_corpus(corpus, n_docs)
    picks = random.Random(0).sample(range(n_docs), n_queries)
    latencies_ms: list[float] = []
    top_ids: list[list[str]] = []
    exact = 0  # queries whose best answer is the queried line itself, at distance 0
    scratch = ROOT / ".faasflow" / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as state_dir, build_flow(state_dir, protocol, variant) as flow:
        started = time.perf_counter()
        flow.post("/index", DocumentArray(docs), request_size=request_size)
        index_s = time.perf_counter() - started

        flow.post("/query", Document(text=docs[0].text))  # warm-up: first-call costs out of the timings
        for pick in picks:
            query = Document(text=docs[pick].text)
            started = time.perf_counter()
            answer = flow.post("/query", query)
            latencies_ms.append((time.perf_counter() - started) * 1000)
            hits = answer_hits(answer, variant)
            top_ids.append([d.id for d in hits])
            exact += bool(hits) and hits[0].id == docs[pick].id and hits[0].scores[METRIC].value == 0

    print(f"[jina] top-1 is the queried line at distance 0 for {exact}/{n_queries} queries", file=sys.stderr)
    p50, p95 = np.percentile(latencies_ms, [50, 95])
    return {
        "engine": "jina",
        "jina_version": jina.__version__,
        "protocol": protocol,
        "variant": variant,
        "docs": n_docs,
        "queries": n_queries,
        "request_size": request_size,
        "index_docs_per_s": n_docs / index_s,
        "top1_is_query": exact,
        "query_p50_ms": float(p50),
        "query_p95_ms": float(p95),
        "top_ids": top_ids,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="one sentence a line")
    parser.add_argument("--docs", type=int, default=10_000, help="index the first N lines (default 10000)")
    parser.add_argument("--queries", type=int, default=200, help="timed single-doc queries (default 200)")
    parser.add_argument("--request-size", type=int, default=100, help="docs per /index request (default 100)")
    parser.add_argument("--protocol", default="grpc", choices=("grpc", "http", "websocket"))
    parser.add_argument("--variant", default="plain", choices=("plain", "jina-style"),
                        help="the reference app's executors, or bench/jina_style.py's (default plain)")
    parser.add_argument("--json-out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.queries > args.docs:
        parser.error("--queries cannot exceed --docs: queries are distinct indexed lines")

    result = run(args.corpus, args.docs, args.queries, args.request_size, args.protocol, args.variant)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result) + "\n")
    print(
        f"[jina {args.variant}] indexed {result['index_docs_per_s']:,.0f} docs/s; "
        f"query p50 {result['query_p50_ms']:.2f} ms, p95 {result['query_p95_ms']:.2f} ms",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
