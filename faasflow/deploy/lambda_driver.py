"""Drive a Lambda handler as the Lambda runtime does, for rehearsals without Docker: import
the handler's module (the init phase, timed), then call the handler once per event.

    python -P faasflow/deploy/lambda_driver.py package.module.function < events.jsonl

(Run as a script, it imports nothing of faasflow before the handler's module.)

Writes JSON lines: ``{"init_seconds": s}`` first, then ``{"result": ...}`` or
``{"error": {"type": ..., "message": ...}}`` per event, each with ``"seconds"``. What the
handler itself prints (its logs, which Lambda sends to CloudWatch) goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from types import SimpleNamespace


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -P lambda_driver.py package.module.function", file=sys.stderr)
        return 2
    module_name, _, function_name = argv[0].rpartition(".")
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the handler's own output (JSON log lines) must not mix with the answers
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_NAME", "rehearsal")  # handlers that init at import do so
    started = time.perf_counter()
    handler = getattr(importlib.import_module(module_name), function_name)
    print(json.dumps({"init_seconds": time.perf_counter() - started}), file=answers, flush=True)
    context = SimpleNamespace(function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"], aws_request_id="rehearsal")
    for line in sys.stdin:
        if not line.strip():
            continue
        started = time.perf_counter()
        try:
            answer = {"result": handler(json.loads(line), context)}
        except Exception as exc:  # noqa: BLE001 - reported as the Lambda runtime reports it
            answer = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        answer["seconds"] = time.perf_counter() - started
        print(json.dumps(answer), file=answers, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
