"""The HTTP gateway: a one-executor Flow whose executor returns the docs unchanged, served
by ``faasflow serve`` in its own process, measured three ways:

* ``Client.post`` — 1,000 sequential single-doc posts through faasflow's Client;
* plain HTTP      — 1,000 sequential single-doc posts with a plain httpx client;
* concurrent      — 16 keep-alive connections posting at once (``bench/loadgen.py``): throughput.

With ``--vs-jina``, the same on Jina 3.33.1's HTTP gateway (installed into its own venv
under ``.bench/``): ``f.post`` in place of ``Client.post``, the very same plain-HTTP loops.
Without it, faasflow's figures are compared with those measured for Jina on this kind of
machine (159 req/s through ``f.post``, 251 req/s with plain HTTP). Target: >= 3x Jina's
requests/s on both paths, p95 latency <= 1/3 of Jina's.

    python bench/http_gateway.py [--requests 1000] [--clients 16] [--vs-jina]
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.echo import ENDPOINT  # noqa: E402
from bench.latency import summarise  # noqa: E402
from bench.loadgen import closed_loop  # noqa: E402
from faasflow import Client, Document  # noqa: E402
from faasflow.wire import IDEMPOTENCY_KEY_HEADER  # noqa: E402

FLOW_YAML = """\
jtype: Flow
with:
  name: echo
executors:
  - name: echo
    uses: bench.echo.Echo
"""
BODY = b'{"data":[{"text":"hello world"}]}'  # Jina's REST request shape: both gateways take it
REFERENCE = {"engine": "jina 3.33.1 (reference)", "client": {"requests_per_s": 159.0},
             "plain": {"requests_per_s": 251.0}}
TARGET_SPEEDUP = 3.0


# --- the measured loops (the same for both engines) ---

def timed(send: Callable[[], None], count: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        send()
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        sent = time.perf_counter()
        send()
        latencies.append(time.perf_counter() - sent)
    return summarise(latencies, time.perf_counter() - started)


def plain_sequential(url: str, count: int, warmup: int, keyed: bool = False) -> dict[str, Any]:
    """Plain httpx posts; ``keyed``: each with a new ``Idempotency-Key``, as the Client sends
    (the gateway then keeps every answer: the cost of idempotency, beside the run without)."""
    keys = iter(range(10**9))
    with httpx.Client(base_url=url, trust_env=False, headers={"content-type": "application/json"}) as http:
        def send() -> None:
            headers = {IDEMPOTENCY_KEY_HEADER: f"bench-{next(keys)}-{time.time_ns()}"} if keyed else None
            answer = http.post(ENDPOINT, content=BODY, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"{answer.status_code}: {answer.text[:200]}")

        return timed(send, count, warmup)


def client_sequential(url: str, count: int, warmup: int) -> dict[str, Any]:
    with Client(url) as client:
        def send() -> None:
            assert len(client.post(ENDPOINT, Document(text="hello world"))) == 1

        return timed(send, count, warmup)


def plain_concurrent(url: str, clients: int, per_client: int, warmup: int) -> dict[str, Any]:
    """``clients`` keep-alive connections posting at once (closed loop), all released together."""
    latencies, elapsed = closed_loop(url, ENDPOINT, BODY, clients, per_client, warmup)
    return {"clients": clients, **summarise(latencies, elapsed)}


def measure_plain(url: str, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "plain": plain_sequential(url, args.requests, args.warmup),
        "concurrent": plain_concurrent(url, args.clients, max(1, args.concurrent_requests // args.clients),
                                       args.warmup // 5),
    }


# --- faasflow ---

def read_lines(stream: IO[str]) -> queue.Queue[str]:
    """Lines of a child's output, on a thread, so that waiting for one can time out."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for(lines: queue.Queue[str], pattern: str, timeout: float, what: str) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise RuntimeError(f"{what} did not start; its output:\n{''.join(seen[-30:])}")


def run_faasflow(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        flow_file = Path(folder) / "flow.yml"
        flow_file.write_text(FLOW_YAML)
        server = subprocess.Popen(
            [sys.executable, "-m", "faasflow", "serve", str(flow_file), "--port", "0", "--workspace", folder],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stderr is not None
            url = wait_for(read_lines(server.stderr), r"serving on (http://\S+)", 60, "faasflow serve").group(1)
            print(f"[faasflow] serving on {url}", file=sys.stderr)
            client = client_sequential(url, args.requests, args.warmup)
            keyed = plain_sequential(url, args.requests, args.warmup, keyed=True)
            return {"engine": "faasflow", "client": client, "keyed": keyed, **measure_plain(url, args)}
        finally:
            server.terminate()
            server.wait(30)


# --- jina ---

def run_jina(args: argparse.Namespace) -> dict[str, Any]:
    from bench.jina_env import ensure_jina_python

    python = ensure_jina_python()
    port = free_port()
    jina = subprocess.Popen(
        [str(python), str(ROOT / "bench" / "jina_http_gateway.py"), "--port", str(port),
         "--requests", str(args.requests), "--warmup", str(args.warmup)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert jina.stdin is not None and jina.stdout is not None
    try:
        lines = read_lines(jina.stdout)
        ready = json.loads(wait_for(lines, r"^BENCH (.*)$", 300, "the Jina Flow").group(1))
        print(f"[jina] {ready['jina']} serving on http://127.0.0.1:{port}", file=sys.stderr)
        jina.stdin.write("fpost\n")
        jina.stdin.flush()
        fpost = json.loads(wait_for(lines, r"^BENCH (.*)$", 600, "f.post").group(1))
        fpost.pop("event")
        plain = measure_plain(f"http://127.0.0.1:{port}", args)
        return {"engine": f"jina {ready['jina']}", "client": fpost, **plain}
    finally:
        try:
            jina.stdin.write("stop\n")
            jina.stdin.flush()
            jina.wait(60)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            jina.kill()
            jina.wait()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- report ---

def report(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    rows = [("Client.post / f.post, sequential", "client"), ("plain HTTP, sequential", "plain"),
            (f"plain HTTP, {ours['concurrent']['clients']} concurrent clients", "concurrent")]
    lines = [f"{'path':40} {'':>9} {ours['engine']:>14} {theirs['engine']:>26} {'ratio':>8}"]
    verdicts = []
    for label, key in rows:
        mine, other = ours.get(key), theirs.get(key)
        if mine is None:
            continue
        rate = other["requests_per_s"] if other else None
        ratio = mine["requests_per_s"] / rate if rate else None
        lines.append(f"{label:40} {'req/s':>9} {mine['requests_per_s']:>14,.0f} "
                     f"{(f'{rate:,.0f}' if rate else '-'):>26} {(f'{ratio:.1f}x' if ratio else '-'):>8}")
        if ratio is not None:
            verdicts.append(f"{label}: {ratio:.1f}x the requests/s (target >= {TARGET_SPEEDUP:.0f}x): "
                            + ("met" if ratio >= TARGET_SPEEDUP else "NOT met"))
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            theirs_q = other.get(q) if other else None
            ratio_q = theirs_q / mine[q] if theirs_q else None
            lines.append(f"{'':40} {q:>9} {mine[q]:>14.2f} {(f'{theirs_q:.2f}' if theirs_q else '-'):>26} "
                         f"{(f'1/{ratio_q:.1f}' if ratio_q else '-'):>8}")
            if q == "p95_ms" and ratio_q is not None:
                verdicts.append(f"{label}: p95 {mine[q]:.2f} ms = 1/{ratio_q:.1f} of Jina's (target <= 1/3): "
                                + ("met" if ratio_q >= TARGET_SPEEDUP else "NOT met"))
    return lines + [""] + verdicts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="sequential posts per path (default 1000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--concurrent-requests", type=int, default=4000,
                        help="posts in the concurrent run, over all clients (default 4000)")
    parser.add_argument("--warmup", type=int, default=50, help="posts before each measured run (default 50)")
    parser.add_argument("--vs-jina", action="store_true", help="measure Jina's HTTP gateway too")
    parser.add_argument("--json-out", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)

    ours = run_faasflow(args)
    theirs = run_jina(args) if args.vs_jina else REFERENCE
    print("\n".join(report(ours, theirs)))
    keyed, plain = ours["keyed"], ours["plain"]
    print(f"\nidempotency: plain HTTP with a new Idempotency-Key per post {keyed['requests_per_s']:,.0f} req/s "
          f"(p50 {keyed['p50_ms']:.2f} ms) against {plain['requests_per_s']:,.0f} req/s without "
          f"(p50 {plain['p50_ms']:.2f} ms): {keyed['requests_per_s'] / plain['requests_per_s']:.2f}x")
    if args.json_out:
        args.json_out.write_text(json.dumps({"faasflow": ours, "jina": theirs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
