"""The gateway's Flow page (``GET /``): its size, and how soon headless Chromium paints it and
shows its first figures, beside a one-line HTML page served on the same machine (the floor:
what any page costs this browser here).

    .venv/bin/python bench/flow_page.py [--rounds 7]

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser``) and selenium (dev extra).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLOOR_HTML = b"<!doctype html><html><head><title>floor</title></head><body><p>floor</p></body></html>"
PAINT = ("return (performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint') "
         "|| {}).startTime")


class FloorPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(FLOOR_HTML)))
        self.end_headers()
        self.wfile.write(FLOOR_HTML)

    def log_message(self, *args: Any) -> None:
        pass


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--disable-extensions", "--disable-application-cache"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))


def first_paint_ms(driver: Any, url: str) -> float:
    driver.get("about:blank")
    driver.get(url)
    deadline = time.monotonic() + 10
    while (paint := driver.execute_script(PAINT)) is None and time.monotonic() < deadline:
        time.sleep(0.005)
    return float(paint)


def first_figures_ms(driver: Any, url: str) -> float:
    """From navigation start until the page shows figures read from /metrics."""
    driver.get("about:blank")
    driver.get(url)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = driver.execute_script(
            "const e = document.getElementById('ff-updated');"
            "return e && e.textContent.startsWith('updated') ? performance.now() : null")
        if done is not None:
            return float(done)
        time.sleep(0.005)
    raise TimeoutError("the page showed no figures within 10 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        print("no chromium/chromedriver on PATH: run `make browser` first", file=sys.stderr)
        return 1
    import httpx

    sys.path.insert(0, str(ROOT))
    from faasflow import Flow
    from faasflow.embedded import EmbeddedBackend
    from faasflow.serve import start_background_server

    floor = ThreadingHTTPServer(("127.0.0.1", 0), FloorPage)
    threading.Thread(target=floor.serve_forever, daemon=True).start()
    floor_url = f"http://127.0.0.1:{floor.server_address[1]}/"
    flow = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
    with tempfile.TemporaryDirectory() as workspace:
        flow.workspace = workspace
        with flow:
            server = start_background_server(EmbeddedBackend(flow), port=0)
            driver = browser()
            try:
                html = httpx.get(server.url + "/", trust_env=False).content
                page, floor_paint, figures = [], [], []
                first_paint_ms(driver, server.url + "/")  # warm the browser's process and caches
                for _ in range(args.rounds):  # interleaved, so drifting load touches both alike
                    page.append(first_paint_ms(driver, server.url + "/"))
                    floor_paint.append(first_paint_ms(driver, floor_url))
                    figures.append(first_figures_ms(driver, server.url + "/"))
            finally:
                driver.quit()
                server.stop()
                floor.shutdown()
    page_ms, floor_ms = statistics.median(page), statistics.median(floor_paint)
    print(f"Flow page of the reference app: {len(html):,} bytes of HTML ({len(gzip.compress(html)):,} gzipped), "
          "nothing else fetched but /metrics")
    print(f"first contentful paint, median of {args.rounds}: page {page_ms:.1f} ms, "
          f"floor (a one-line page) {floor_ms:.1f} ms: {page_ms / floor_ms:.2f}x")
    print(f"first figures from /metrics on the page, median of {args.rounds}: {statistics.median(figures):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
