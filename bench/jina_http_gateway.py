"""The Jina side of ``bench/http_gateway.py``: a one-executor Jina Flow behind Jina's HTTP
gateway, measured through ``f.post``; plain HTTP posts come from the faasflow side's own
loop (one HTTP client for both engines).

Run with the Jina venv's python (``bench.jina_env.ensure_jina_python()``), never the
project's. It talks over stdin/stdout, one JSON line each, prefixed ``BENCH ``:

    -> BENCH {"event": "ready", "port": P, "jina": "3.33.1"}
    <- fpost            (measure N sequential single-doc ``f.post`` calls)
    -> BENCH {"event": "fpost", ...figures}
    <- stop             (close the Flow and exit)
"""

# No `from __future__ import annotations`: Jina reads the handlers' annotations as classes.
import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Before importing jina: no telemetry (no network here), loopback only, quiet logs.
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")
os.environ.setdefault("JINA_DEFAULT_HOST", "127.0.0.1")
os.environ.setdefault("JINA_LOG_LEVEL", "WARNING")
os.environ.setdefault("JINA_HIDE_SURVEY", "1")

import jina  # noqa: E402
from jina import Document, DocumentArray, Executor, Flow, requests  # noqa: E402

from bench.latency import summarise  # noqa: E402

ENDPOINT = "/index"  # one of the routes Jina's HTTP gateway exposes


class Echo(Executor):
    @requests(on=ENDPOINT)
    def echo(self, docs: DocumentArray, **kwargs) -> DocumentArray:
        return docs


def say(event: str, **fields) -> None:
    print("BENCH " + json.dumps({"event": event, **fields}), flush=True)


def measure_fpost(flow: Flow, requests_n: int, warmup: int) -> dict:
    for _ in range(warmup):
        flow.post(ENDPOINT, inputs=Document(text="hello world"))
    latencies = []
    started = time.perf_counter()
    for _ in range(requests_n):
        sent = time.perf_counter()
        answer = flow.post(ENDPOINT, inputs=Document(text="hello world"))
        latencies.append(time.perf_counter() - sent)
        assert len(answer) == 1
    return summarise(latencies, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    flow = Flow(protocol="http", port=args.port).add(uses=Echo, name="echo")
    with flow:
        say("ready", port=args.port, jina=jina.__version__)
        for line in sys.stdin:
            command = line.strip()
            if command == "fpost":
                say("fpost", **measure_fpost(flow, args.requests, args.warmup))
            elif command == "stop":
                break


if __name__ == "__main__":
    main()
