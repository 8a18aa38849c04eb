"""Take the README's screenshot of the gateway page (``docs/flow-page.png``): the reference
Flow served on a free port, some documents indexed and queried so that the figures are not
all zero, then the page in headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
``make browser``).

    .venv/bin/python scripts/screenshot_flow_page.py [OUT.png]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "flow-page.png"
WIDTH = 1280


def main(out: Path = OUT) -> int:
    import httpx
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    sys.path.insert(0, str(ROOT))  # the reference app's executors (functions/) and corpus (examples/)
    from examples.sharded_search.corpus import sentences
    from faasflow import Flow
    from faasflow.embedded import EmbeddedBackend
    from faasflow.serve import start_background_server

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        print("no chromium/chromedriver on PATH: run `make browser` first", file=sys.stderr)
        return 1
    flow = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
    with tempfile.TemporaryDirectory() as workspace:
        flow.workspace = workspace
        with flow:
            server = start_background_server(EmbeddedBackend(flow), port=0)
            try:
                with httpx.Client(base_url=server.url, trust_env=False, timeout=60) as client:
                    texts = list(sentences(400))
                    for start in range(0, len(texts), 50):
                        docs = [{"id": f"s{n}", "text": t} for n, t in enumerate(texts[start:start + 50], start)]
                        client.post("/index", json={"data": docs}).raise_for_status()
                    for text in texts[:40]:
                        client.post("/query", json={"data": [{"text": text}], "parameters": {"limit": 3}})
                    client.post("/count")
                options = webdriver.ChromeOptions()
                options.binary_location = chromium
                for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                                 "--hide-scrollbars", f"--window-size={WIDTH},900", "--force-device-scale-factor=1"):
                    options.add_argument(argument)
                driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
                try:
                    driver.get(server.url + "/")
                    deadline = time.monotonic() + 15
                    while not driver.find_element("id", "ff-updated").text.startswith("updated"):
                        if time.monotonic() > deadline:
                            raise RuntimeError("the page never read /metrics")
                        time.sleep(0.2)
                    height = driver.execute_script("return document.documentElement.scrollHeight")
                    driver.set_window_size(WIDTH, height)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    driver.save_screenshot(str(out))
                finally:
                    driver.quit()
            finally:
                server.stop()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
