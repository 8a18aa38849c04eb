"""Index a generated corpus into the sharded search Flow, then query it.

    python -m examples.sharded_search [--docs 10000] [--workspace DIR]

The Flow is the reference app's (``orchestrator/flow.yml``): the same executors that
deploy to AWS run here in-process.
"""

from __future__ import annotations

from examples.common import ROOT, corpus_docs, example_args, index_and_report
from faasflow import Document, Flow

FLOW_YAML = ROOT / "orchestrator" / "flow.yml"
NEW_QUERIES = [
    "The chef paints a red bicycle near the station",
    "a sailor remembers the frozen lake at midnight",
]


def main(argv: list[str] | None = None) -> None:
    args = example_args(__doc__, argv)
    from rich.console import Console
    from rich.table import Table

    console = Console()
    corpus = corpus_docs(args.docs)
    flow = Flow.load_config(FLOW_YAML)
    if args.workspace:
        flow.workspace = args.workspace
    with flow:
        console.print(index_and_report(flow, corpus, "db"))
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
