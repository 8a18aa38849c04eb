"""Index a generated corpus into the sharded search Flow, then query it.

    python -m examples.sharded_search [--docs 10000] [--workspace DIR]

The Flow is the reference app's (``orchestrator/flow.yml``): the same executors that
deploy to AWS run here in-process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from examples.sharded_search.corpus import write_corpus
from faasflow import Document, DocumentArray, Flow

ROOT = Path(__file__).resolve().parents[2]
FLOW_YAML = ROOT / "orchestrator" / "flow.yml"
NEW_QUERIES = [
    "The chef paints a red bicycle near the station",
    "a sailor remembers the frozen lake at midnight",
]


def load_corpus(path: Path) -> DocumentArray:
    return DocumentArray(
        Document(id=f"line-{number}", text=line)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.strip()
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000, help="corpus size (default 10000)")
    parser.add_argument("--workspace", default=None, help="where the shards keep their data")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    console = Console()
    corpus_path = write_corpus(ROOT / ".faasflow" / "data" / f"corpus-{args.docs}.txt", count=args.docs)
    corpus = load_corpus(corpus_path)
    flow = Flow.load_config(FLOW_YAML)
    if args.workspace:
        flow.workspace = args.workspace
    with flow:
        started = time.perf_counter()
        flow.post("/index", corpus, request_size=100, show_progress=True)
        elapsed = time.perf_counter() - started
        counts = flow.post("/count", return_responses=True)[0].parameters["__results__"]["db"]
        console.print(
            f"indexed {len(corpus):,} docs in {elapsed:.2f} s ({len(corpus) / elapsed:,.0f} docs/s); "
            f"docs per shard: {[c['count'] for c in counts]}"
        )
        queries = [corpus[0].text, corpus[len(corpus) // 2].text, corpus[-1].text, *NEW_QUERIES]
        table = Table(title="top 3 per query (jaccard distance, 0 = identical)")
        table.add_column("query", overflow="fold", max_width=44)
        table.add_column("#", justify="right")
        table.add_column("score", justify="right")
        table.add_column("id")
        table.add_column("match", overflow="fold")
        for query in queries:
            results = flow.post("/query", Document(text=query), parameters={"limit": 3})
            for rank, match in enumerate(results[:3], start=1):
                table.add_row(
                    query if rank == 1 else "", str(rank), f"{match.scores['jaccard'].value:.3f}", match.id, match.text
                )
            table.add_section()
        console.print(table)


if __name__ == "__main__":
    main()
