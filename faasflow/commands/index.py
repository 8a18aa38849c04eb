"""``faasflow index docs.jsonl flow.yml``: batch-index a JSON-lines file, embedded."""

from __future__ import annotations

import argparse
import json

from faasflow.commands.common import positive_int


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "index", help="batch-index a JSON-lines file through a Flow, in-process",
        description="Index a JSON-lines file (one document a line) through the Flow's /index endpoint, in splits "
        "of about --batch-size lines, as a deployed Flow does for files dropped in its bucket. Malformed lines are "
        "reported with their line numbers and skipped.")
    parser.add_argument("input", help="the JSON-lines file")
    parser.add_argument("flow", help="the Flow YAML file")
    parser.add_argument("--batch-size", type=positive_int, default=100,
                        help="about how many lines a split holds, and documents a request (default 100)")
    parser.add_argument("--on", default="/index", help="the endpoint (default /index)")
    parser.add_argument("--workspace", help="where executors keep their data")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.batch import index_file
    from faasflow.commands.common import check_input_file, load_flow

    check_input_file(args.input, "argument input", stdin=False)
    flow = load_flow(args.flow, args.workspace)
    with flow:
        summary = index_file(flow, args.input, args.batch_size, show_progress=not args.json, on=args.on)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['docs_indexed']:,} docs indexed from {summary['lines']:,} lines of {args.input}")
        if summary["docs_failed"]:
            print(f"{summary['docs_failed']:,} docs not indexed: {len(summary['failed_splits']):,} requests failed")
        for rejected in summary["rejected"]:
            print(f"  {args.input}:{rejected['line']}: {rejected['reason']}")
        for failed in summary["failed_splits"]:
            stored = (f"; shards {failed['committed_shards']} of {failed['executor']!r} stored their part"
                      if failed.get("committed_shards") else "")
            print(f"  split {failed['split']}: {failed['docs']:,} docs failed: {failed['error']}{stored}")
    return 1 if summary["rejected"] or summary["failed_splits"] else 0
