"""Index the generated corpus by meaning, then ask it questions in other words.

    python -m examples.semantic_search [--docs 10000] [--workspace DIR]

The Flow is ``orchestrator/semantic.yml``: an ONNX encoder (all-MiniLM-L6-v2, made by
``make model``), a VectorIndexer in 3 shards, a ranker.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from examples.sharded_search.__main__ import load_corpus
from examples.sharded_search.corpus import write_corpus
from faasflow import Document, Flow

ROOT = Path(__file__).resolve().parents[2]
FLOW_YAML = ROOT / "orchestrator" / "semantic.yml"
QUESTIONS = [
    "someone fixing an old clock in the morning",
    "a cat looking at a map by the sea",
    "a musician playing near the harbour at night",
    "a pilot writing a report about the weather station",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000, help="corpus size (default 10000)")
    parser.add_argument("--workspace", default=None, help="where the index shards keep their data")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    console = Console()
    corpus = load_corpus(write_corpus(ROOT / ".faasflow" / "data" / f"corpus-{args.docs}.txt", count=args.docs))
    flow = Flow.load_config(FLOW_YAML)
    flow.workspace = args.workspace or str(ROOT / ".faasflow" / "workspace-semantic")
    with flow:
        started = time.perf_counter()
        flow.post("/index", corpus, request_size=100, show_progress=True)
        elapsed = time.perf_counter() - started
        counts = flow.post("/count", return_responses=True)[0].parameters["__results__"]["index"]
        console.print(
            f"encoded and indexed {len(corpus):,} docs in {elapsed:.1f} s "
            f"({len(corpus) / elapsed:,.0f} docs/s); docs per shard: {[c['count'] for c in counts]}"
        )
        table = Table(title="top 3 per question (cosine distance, 0 = same direction)")
        table.add_column("question", overflow="fold", max_width=36)
        table.add_column("#", justify="right")
        table.add_column("score", justify="right")
        table.add_column("match", overflow="fold")
        for question in QUESTIONS:
            answer = flow.post("/search", Document(text=question), parameters={"limit": 3})
            for rank, match in enumerate(answer[0].matches, start=1):
                table.add_row(
                    question if rank == 1 else "", str(rank), f"{match.scores['cosine'].value:.3f}", match.text
                )
            table.add_section()
        console.print(table)


if __name__ == "__main__":
    main()
