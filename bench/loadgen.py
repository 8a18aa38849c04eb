"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections on one asyncio
loop, each sending its next request as soon as the last answer is in.

For the concurrent run a Python HTTP client library would be the bottleneck on a 2-core
machine (16 threads of httpx measure the client, not the server); this costs a few tens
of microseconds a request, so the figure is the server's.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit


def _request(host: str, port: int, path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _connection(host: str, port: int, request: bytes, count: int, warmup: int, start: asyncio.Event,
                      latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for number in range(warmup + count):
            if number == warmup:
                await start.wait()
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"{status}: {body[:200]!r}")
            if number >= warmup:
                latencies.append(time.perf_counter() - sent)
    finally:
        writer.close()


async def _run(url: str, path: str, body: bytes, clients: int, per_client: int,
               warmup: int) -> tuple[list[float], float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = _request(host, port, (parts.path.rstrip("/") or "") + path, body)
    start = asyncio.Event()
    latencies: list[float] = []
    tasks = [asyncio.create_task(_connection(host, port, request, per_client, warmup, start, latencies))
             for _ in range(clients)]
    await asyncio.sleep(0.5)  # let every connection finish its warm-up
    started = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    return latencies, time.perf_counter() - started


def closed_loop(url: str, path: str, body: bytes, clients: int, per_client: int,
                warmup: int = 5) -> tuple[list[float], float]:
    """Latencies (s) of ``clients * per_client`` requests, and the wall time they took."""
    return asyncio.run(_run(url, path, body, clients, per_client, warmup))
