"""``faasflow run flow.yml --on /index --input docs.jsonl``: an embedded run over a JSON-lines file."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from time import perf_counter
from typing import Any

from faasflow.commands.common import positive_int


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run", help="run a Flow in-process over a JSON-lines file of documents",
        description="Send every document of a JSON-lines file (one document a line) through the Flow, "
                    "in-process. Malformed lines are reported with their numbers and skipped; the rest are "
                    "processed. Exit code 0: all done; 1: some lines skipped or requests failed; 2: nothing ran.")
    parser.add_argument("flow", help="the Flow YAML file")
    parser.add_argument("--on", required=True, help="the endpoint, e.g. /index")
    parser.add_argument("--input", required=True, help="the documents, one JSON object a line ('-': stdin)")
    parser.add_argument("--output", help="write the resulting documents here, one a line ('-': stdout)")
    parser.add_argument("--parameters", default=None, help="request parameters as a JSON object, e.g. '{\"limit\": 3}'")
    parser.add_argument("--request-size", type=positive_int, default=100, help="documents per request (default 100)")
    parser.add_argument("--workspace", help="where executors keep their data (default .faasflow/workspace)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import check_input_file, check_output_file, fail, load_flow
    from faasflow.jsonl import BadLine, read_documents, write_documents
    from faasflow.request import Response

    parameters: dict[str, Any] = {}
    if args.parameters:
        try:
            parameters = json.loads(args.parameters)
        except ValueError as exc:
            return fail(f"--parameters is not JSON: {exc}")
        if not isinstance(parameters, dict):
            return fail("--parameters must be a JSON object")
    check_input_file(args.input, "argument --input")
    if args.output:
        check_output_file(args.output, "argument --output")
    flow = load_flow(args.flow, args.workspace)
    flow.protocol = None  # an embedded run: no server, whatever the YAML says

    bad_lines: list[BadLine] = []
    with ExitStack() as stack:
        source = sys.stdin.buffer if args.input == "-" else stack.enter_context(open(args.input, "rb"))
        docs = list(read_documents(source, bad_lines))
    for bad in bad_lines:
        print(f"{args.input}:{bad.number}: skipped: {bad.message}", file=sys.stderr)

    to_stdout = args.output == "-"
    written = 0
    failures: list[str] = []
    results: list[Any] = []
    requests = 0
    returned = 0

    with ExitStack() as stack:
        out = None
        if args.output:
            out = sys.stdout.buffer if to_stdout else stack.enter_context(open(args.output, "wb"))

        def on_done(response: Response) -> None:
            nonlocal written, returned
            returned += len(response.docs)  # post returns nothing when given callbacks, as in Jina 3
            if out is not None:
                written += write_documents(response.docs, out)
            if "__results__" in response.parameters:
                results.append(response.parameters["__results__"])

        def on_error(response: Response) -> None:
            failures.append(str(response.error))

        def on_always(response: Response) -> None:
            nonlocal requests
            requests += 1

        started = perf_counter()
        with flow:
            flow.post(args.on, docs, parameters, request_size=args.request_size,
                                 show_progress=not (args.no_progress or to_stdout), on_done=on_done,
                                 on_error=on_error, on_always=on_always)
        elapsed = perf_counter() - started

    report = sys.stderr if to_stdout else sys.stdout
    for failure in failures[:5]:
        print(f"failed request: {failure}", file=sys.stderr)
    rate = len(docs) / elapsed if elapsed > 0 else 0.0
    summary = (f"{args.on}: {len(docs)} document(s) in {requests} request(s), {elapsed:.2f} s ({rate:,.0f} docs/s); "
               f"{returned} returned")
    if args.output and not to_stdout:
        summary += f", {written} written to {args.output}"
    summary += f"; {len(bad_lines)} malformed line(s) skipped; {len(failures)} request(s) failed"
    print(summary, file=report)
    for result in results:
        print("results: " + json.dumps(result, default=str), file=report)
    return 1 if bad_lines or failures else 0
