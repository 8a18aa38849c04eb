"""``faasflow status --url``: each VectorIndexer shard's recent query similarity against its
index similarity, from a real served Flow; and the one-line errors of bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faasflow import Client, Document, Flow
from faasflow.cli import main
from faasflow.commands import status as status_command
from faasflow.embedded import EmbeddedBackend
from faasflow.serve import start_background_server

ROOT = Path(__file__).resolve().parents[2]
POLLING = {"/search": "ALL", "/query": "ALL", "/count": "ALL", "*": "ANY"}
DIM = 16


def vectors(count: int, seed: int, sign: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (sign * (rng.standard_normal((count, DIM)) * 0.5 + 0.4)).astype(np.float32)


@pytest.fixture(scope="module")
def drift_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Flow]]:
    """A served Flow: an indexer of 2 shards that has indexed and searched, and one that has not."""
    flow = (Flow(name="drifting", workspace=str(tmp_path_factory.mktemp("drift-cli")))
            .add(uses="faasflow.executors.VectorIndexer", name="idx", shards=2, polling=POLLING)
            .add(uses="faasflow.executors.VectorIndexer", name="spare", needs="gateway", polling=POLLING))
    with flow:
        server = start_background_server(EmbeddedBackend(flow), port=0)
        try:
            with Client(server.url) as client:
                client.post("/index", [Document(id=f"d{i}", embedding=v) for i, v in enumerate(vectors(200, 1))],
                            target_executor="idx")
                client.post("/search", [Document(embedding=v) for v in vectors(8, 2)], target_executor="idx")
                client.post("/search", [Document(embedding=v) for v in vectors(8, 3, sign=-1)], target_executor="idx")
            yield server.url, flow
        finally:
            server.stop()


def reports(flow: Flow) -> list[dict[str, Any]]:
    assert flow._engine is not None
    return [instance.status() for instance in flow._engine.instances["idx"]]


def test_status_url_prints_each_shards_query_against_index_similarity(drift_server: tuple[str, Flow],
                                                                     capsys: pytest.CaptureFixture[str]):
    url, flow = drift_server
    assert main(["status", "--url", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{url}: Flow 'drifting' embedding drift")
    for shard, report in enumerate(reports(flow)):
        line = next(line for line in out if line.startswith(f"  idx shard {shard}:"))
        match = re.search(r"queries (-?[\d.]+) vs index (-?[\d.]+) .*, (\d+) query batch(es)?$", line)
        assert match, line
        assert float(match[1]) == pytest.approx(report["query_similarity"], abs=1e-3)
        assert float(match[2]) == pytest.approx(report["index_similarity"], abs=1e-3)
        assert int(match[3]) == report["query_batches"] == 2
    assert f"  spare shard 0: {status_command.NOT_YET}, 0 query batches" in out  # an indexer that never searched


def test_status_url_json(drift_server: tuple[str, Flow], capsys: pytest.CaptureFixture[str]):
    url, flow = drift_server
    assert main(["status", "--url", url, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["flow"] == "drifting" and answer["url"] == url
    rows = {(row["executor"], row["shard"]): row for row in answer["drift"]}
    assert set(rows) == {("idx", 0), ("idx", 1), ("spare", 0)}
    for shard, report in enumerate(reports(flow)):
        row = rows[("idx", shard)]
        assert row["query_similarity"] == pytest.approx(report["query_similarity"])
        assert row["index_similarity"] == pytest.approx(report["index_similarity"])
        assert row["query_batches"] == 2 and row["note"] is None
    assert rows[("spare", 0)]["query_similarity"] is None and rows[("spare", 0)]["note"] == status_command.NOT_YET


def test_status_with_a_stack_also_asks_its_api(drift_server: tuple[str, Flow], capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch):
    url, _ = drift_server
    pytest.importorskip("boto3")
    monkeypatch.setattr("faasflow.deploy.sam.stack_outputs", lambda *args: {"ApiUrl": url})
    monkeypatch.setattr(status_command, "recent_runs", lambda *args: [])
    assert main(["status", "--stack-name", "flow-stack"]) == 0
    out = capsys.readouterr().out
    assert "no batch runs yet" in out and re.search(r"  idx shard 1: queries [\d.]+ vs index", out)
    monkeypatch.setattr("faasflow.deploy.sam.stack_outputs", lambda *args: {"ApiUrl": "http://127.0.0.1:9"})
    assert main(["status", "--stack-name", "flow-stack", "--json", "--timeout", "2"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["runs"] == [] and answer["drift"] is None and "no answer" in answer["drift_unavailable"]


def faasflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faasflow", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "faasflow status needs --url URL"),
        (("--url", "http://127.0.0.1:9", "--timeout", "2"), "no answer from http://127.0.0.1:9"),
        (("--url", "http://127.0.0.1:9", "--limit", "5", "--region", "eu-west-1"),
         "--region, --limit only mean(s) something with --stack-name"),
        (("--url", "http://[::1"), "--url 'http://[::1' is not a URL this can reach"),
    ],
    ids=["neither-url-nor-stack", "unreachable-url", "stack-options-without-a-stack", "not-a-url"],
)
def test_bad_input_is_one_line(args: tuple[str, ...], says: str):
    done = faasflow("status", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("faasflow: error: ") and says in line


def test_an_answer_that_is_not_a_flows_status_is_one_line():
    """Something else answering at the URL (another service, a proxy's page) is named, not a traceback."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = json.dumps({"executors": 5}).encode()

    class NotAFlow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotAFlow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = faasflow("status", "--url", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("faasflow: error: ") and "did not answer a Flow's status" in line
