"""Index the generated corpus by meaning, then ask it questions in other words.

    python -m examples.semantic_search [--docs 10000] [--workspace DIR]

The Flow is ``orchestrator/semantic.yml``: an ONNX encoder (all-MiniLM-L6-v2, made by
``make model``), a VectorIndexer in 3 shards, a ranker.
"""

from __future__ import annotations

from examples.common import ROOT, corpus_docs, example_args, index_and_report
from faasflow import Document, Flow

FLOW_YAML = ROOT / "orchestrator" / "semantic.yml"
QUESTIONS = [
    "someone fixing an old clock in the morning",
    "a cat looking at a map by the sea",
    "a musician playing near the harbour at night",
    "a pilot writing a report about the weather station",
]


def main(argv: list[str] | None = None) -> None:
    args = example_args(__doc__, argv)
    from rich.console import Console
    from rich.table import Table

    console = Console()
    corpus = corpus_docs(args.docs)
    flow = Flow.load_config(FLOW_YAML)
    flow.workspace = args.workspace or str(ROOT / ".faasflow" / "workspace-semantic")
    with flow:
        console.print(index_and_report(flow, corpus, "index", verb="encoded and indexed"))
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
