"""What the examples share: their command line, the corpus as documents, and indexing it
with a progress bar and a one-line report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from examples.sharded_search.corpus import write_corpus
from faasflow import Document, DocumentArray, Flow

ROOT = Path(__file__).resolve().parents[1]


def example_args(doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000, help="corpus size (default 10000)")
    parser.add_argument("--workspace", default=None, help="where the shards keep their data")
    return parser.parse_args(argv)


def load_corpus(path: Path) -> DocumentArray:
    """One document a line, with ids ``line-1``, ``line-2``, ..."""
    return DocumentArray(
        Document(id=f"line-{number}", text=line)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.strip()
    )


def corpus_docs(count: int) -> DocumentArray:
    """The generated corpus of ``count`` lines (written once under .faasflow/data)."""
    return load_corpus(write_corpus(ROOT / ".faasflow" / "data" / f"corpus-{count}.txt", count=count))


def index_and_report(flow: Flow, corpus: DocumentArray, store: str, verb: str = "indexed") -> str:
    """Post the corpus to /index with a progress bar; the report line (speed, docs per shard
    of the executor ``store``)."""
    started = time.perf_counter()
    flow.post("/index", corpus, request_size=100, show_progress=True)
    elapsed = time.perf_counter() - started
    results = flow.post("/count", return_responses=True)[0].parameters["__results__"]
    counts = [c for name, c in results.items() if name.split("/")[0] == store]  # Jina's keys: store/shard-<i>/rep-0
    return (
        f"{verb} {len(corpus):,} docs in {elapsed:.1f} s ({len(corpus) / elapsed:,.0f} docs/s); "
        f"docs per shard: {[c['count'] for c in counts]}"
    )
