"""The gateway's page in headless Chromium against a real server: it loads with no console
error (its inline script and style pass the Content-Security-Policy, nothing is fetched from
elsewhere, an executor named as markup stays a name), shows every executor in the diagram
and the table, and its counters move after requests.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser`` installs them as root;
``make test`` runs it first) and selenium (the ``dev`` extra); without them it skips."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from faasflow import Flow
from faasflow.embedded import EmbeddedBackend
from faasflow.serve import BackgroundServer, start_background_server
from tests.support.dag_executors import Join, Scores, Tag

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver on PATH: `make browser` installs Debian's chromium and chromium-driver (as root)")

HOSTILE = "<img src=x onerror=alert(1)>&\"'"
NAMES = ["start", "left", HOSTILE, "join"]
WAIT_S = 15


def browser_flow() -> Flow:
    """Shards, ALL and ANY polling, a join, and an executor named to break a careless page."""
    return (Flow(name="browser")
            .add(uses=Tag, name="start")
            .add(uses=Scores, name="left", shards=2, polling={"/search": "ALL", "*": "ANY"}, needs="start")
            .add(uses=Tag, name=HOSTILE, shards=3, needs="start")
            .add(uses=Join, name="join", needs=["left", HOSTILE]))


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with browser_flow() as flow:
        started = start_background_server(EmbeddedBackend(flow), port=0)
        try:
            yield started
        finally:
            started.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def severe(driver: Any) -> list[dict[str, Any]]:
    """The console messages (errors, CSP refusals, failed loads) since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def figures(driver: Any) -> dict[str, dict[str, str]]:
    from selenium.webdriver.common.by import By

    return {row.get_attribute("data-executor"): {cell: row.find_element(By.CLASS_NAME, cell).text
                                                 for cell in ("calls", "errors", "p50", "p99")}
            for row in driver.find_elements(By.CSS_SELECTOR, "#ff-stats tr[data-executor]")}


def wait_for(driver: Any, condition: Any, what: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S, poll_frequency=0.25).until(lambda d: condition(d), message=what)


def test_the_page_loads_clean_and_shows_every_executor(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    wait_for(browser, lambda d: d.find_element(By.ID, "ff-updated").text.startswith("updated"),
             "the page's script never read /metrics")
    assert severe(browser) == []
    assert browser.title == "Flow browser \u00b7 faasflow"
    nodes = browser.find_elements(By.CSS_SELECTOR, "svg.ff-diagram g.ff-node")
    assert [node.get_attribute("data-executor") for node in nodes] == NAMES
    drawn = [node.get_attribute("textContent") for node in nodes]
    assert all(text.startswith(name) for text, name in zip(drawn, NAMES))
    assert "2 shards" in drawn[1] and "/search: ALL" in drawn[1] and "*: ANY" in drawn[1] and "3 shards" in drawn[2]
    rows = browser.find_elements(By.CSS_SELECTOR, "#ff-stats tr[data-executor]")
    assert [row.find_element(By.TAG_NAME, "td").text.split(" ")[0] for row in rows[:2]] == ["start", "left"]
    assert rows[2].find_element(By.TAG_NAME, "td").text.startswith(HOSTILE)  # shown as text, not markup
    assert list(figures(browser)) == NAMES
    assert all(f == {"calls": "0", "errors": "0", "p50": "\u2014", "p99": "\u2014"} for f in figures(browser).values())
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0


def test_the_counters_move_after_requests(server, browser):
    browser.get(server.url + "/")
    wait_for(browser, lambda d: list(figures(d)) == NAMES, "the page did not load")
    answer = httpx.post(f"{server.url}/search", json={"data": [{"id": "a", "text": "hello"}]}, trust_env=False)
    assert answer.status_code == 200
    wait_for(browser, lambda d: all(f["calls"] == "1" for f in figures(d).values()),
             "the calls counters did not move after a request")
    shown = figures(browser)
    assert all(f["errors"] == "0" and f["p50"].endswith("s") and f["p99"].endswith("s") for f in shown.values())
    failed = httpx.post(f"{server.url}/boom", json={"data": [{"id": "b"}]}, trust_env=False)
    assert failed.status_code == 500 and failed.json()["error"]["executor"] == "join"
    wait_for(browser, lambda d: figures(d)["join"] == {**figures(d)["join"], "calls": "2", "errors": "1"},
             "the errors counter did not move after a failed request")
    assert figures(browser)[HOSTILE]["errors"] == "0"
    assert "failing" in browser.find_element("css selector", 'tr[data-executor="join"]').get_attribute("class")
    assert severe(browser) == []
