"""The ``faasflow`` command line, end to end: help, show, run, serve + ping (real
processes, real HTTP). ``faasflow new`` has its own module, test_new_project_layout."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from faasflow import Client, Document
from faasflow.cli import main
from tests.support.results import per_shard

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "orchestrator" / "flow.yml")
COMMANDS = ["new", "run", "serve", "show", "ping"]


def faasflow(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faasflow", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_help_lists_every_command():
    done = faasflow("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", done.stdout, re.MULTILINE), command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: faasflow {command}" in capsys.readouterr().out


def test_show_prints_the_topology_and_writes_mermaid(tmp_path, capsys):
    diagram = tmp_path / "flow.md"
    assert main(["show", FLOW, "--mermaid", str(diagram)]) == 0
    out = capsys.readouterr().out
    assert "Flow 'sharded-search'" in out
    assert re.search(r"db\s+uses functions.doc_store.DocStore", out)
    assert "shards 3, needs featurizer" in out
    assert "polling /count ALL, /default ANY, /index ANY, /query ALL" in out
    text = diagram.read_text()
    assert "```mermaid" in text and "flowchart LR" in text
    assert "x_featurizer --> x_db" in text and "x_db --> x_ranker" in text and "3 shards" in text


def test_run_processes_a_jsonl_file_and_skips_malformed_lines(tmp_path, capsys):
    lines = [
        '{"id": "a", "text": "the red bicycle by the sea"}',
        '{"id": "b", "text": "a paper kite at the harbour"}',
        '{"id": "c", "text": ',
        "",
        '{"id": "d", "text": 42}',
        '{"id": "e", "text": "the night train leaves"}',
        '["not", "a", "document"]',
        '{"id": "f", "text": "a jar of honey"}',
    ]
    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out.jsonl"
    workspace = str(tmp_path / "ws")
    code = main(["run", FLOW, "--on", "/index", "--input", str(source), "--output", str(output),
                 "--workspace", workspace, "--request-size", "2"])
    captured = capsys.readouterr()
    assert code == 1  # lines were skipped
    for number in (3, 5, 7):
        assert f"docs.jsonl:{number}: skipped" in captured.err
    assert "docs.jsonl:4" not in captured.err  # a blank line is no document
    assert "4 document(s) in 2 request(s)" in captured.out
    assert "3 malformed line(s) skipped; 0 request(s) failed" in captured.out
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert [d["id"] for d in written] == ["a", "b", "e", "f"]
    assert all("embedding" in d for d in written)

    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    assert main(["run", FLOW, "--on", "/count", "--input", str(empty), "--workspace", workspace]) == 0
    counts = json.loads(capsys.readouterr().out.split("results: ", 1)[1])
    assert sum(shard["count"] for shard in per_shard(counts, "db")) == 4


def test_run_reports_an_unknown_endpoint(tmp_path, capsys):
    source = tmp_path / "docs.jsonl"
    source.write_text('{"text": "x"}\n')
    flow = tmp_path / "flow.yml"
    flow.write_text("jtype: Flow\nexecutors:\n  - name: ranker\n    uses: functions.ranker.Ranker\n")
    assert main(["run", str(flow), "--on", "/nowhere", "--input", str(source), "--no-progress"]) == 2
    assert "not served by this Flow; served endpoints: /query" in capsys.readouterr().err


CLOSING_EXECUTOR = """
from pathlib import Path

from faasflow import Executor, requests


class Closing(Executor):
    @requests
    def stamp(self, docs, **kwargs):
        for doc in docs:
            doc.tags["shard"] = self.runtime_args.shard_id

    def close(self):
        (Path(self.workspace) / "closed").write_text("yes")
"""
CLOSING_FLOW = """
jtype: Flow
with:
  name: closing
executors:
  - name: closing
    uses: closing.py:Closing
    shards: 2
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_then_ping_a_real_server(tmp_path, stop):
    (tmp_path / "closing.py").write_text(CLOSING_EXECUTOR)
    (tmp_path / "flow.yml").write_text(CLOSING_FLOW)
    workspace = tmp_path / "ws"
    server = subprocess.Popen([sys.executable, "-m", "faasflow", "serve", "flow.yml", "--port", "0", "--workspace",
                               str(workspace)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, stdin=subprocess.DEVNULL)
    try:
        url = _announced_url(server)
        assert url.startswith("http://127.0.0.1:")
        ping = faasflow("ping", url)
        assert ping.returncode == 0, ping.stderr
        assert "Flow 'closing' ready" in ping.stdout and "closing x2" in ping.stdout
        with Client(url) as client:
            stamped = client.post("/anything", [Document(id=str(n)) for n in range(20)])
        assert {d.tags["shard"] for d in stamped} == {0, 1}
        as_json = json.loads(faasflow("ping", url, "--json").stdout)
        assert as_json["executors"][0]["shards"] == 2
    finally:
        server.send_signal(stop)
        server.wait(30)
    assert server.returncode == 0
    assert sorted(p.parent.name for p in workspace.glob("closing/*/closed")) == ["0", "1"], "executors closed"


def test_ping_without_a_server_fails_clearly():
    done = faasflow("ping", "http://127.0.0.1:9", "--timeout", "2")
    assert done.returncode == 2
    assert "no answer from http://127.0.0.1:9" in done.stderr


def _announced_url(server: subprocess.Popen, timeout: float = 60) -> str:
    """The URL ``faasflow serve`` prints once it listens (read on a thread: no hang on a dead server)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert server.stderr is not None
        for line in server.stderr:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"faasflow serve announced no URL: {seen}") from None
        seen.append(line)
        match = re.search(r"serving on (http://\S+)", line)
        if match:
            return match.group(1)


def test_build_writes_and_checks_a_named_template(tmp_path, capsys):
    semantic = str(ROOT / "orchestrator" / "semantic.yml")
    args = ["build", semantic, "--out", str(tmp_path), "--template", "template.semantic.yaml"]
    assert main([*args, "--check"]) == 1
    assert "stale: template.semantic.yaml (run `faasflow build" in capsys.readouterr().out
    assert main(args) == 0
    assert (tmp_path / "template.semantic.yaml").is_file() and not (tmp_path / "template.yaml").exists()
    assert (tmp_path / "infra" / "images" / "encoder.Dockerfile").is_file()
    assert main([*args, "--check"]) == 0
    assert "template.semantic.yaml and the state machine are up to date" in capsys.readouterr().out


def test_build_warns_loudly_when_the_api_has_no_auth(tmp_path, capsys):
    assert main(["build", FLOW, "--out", str(tmp_path / "open")]) == 0
    assert "faasflow: warning: the Flow's API has no auth" in capsys.readouterr().err
    keyed = tmp_path / "keyed.yml"
    keyed.write_text(Path(FLOW).read_text().replace("with:\n", "with:\n  auth: api_key\n", 1))
    assert main(["build", str(keyed), "--out", str(tmp_path / "keyed")]) == 0
    assert "no auth" not in capsys.readouterr().err


def test_deploy_emulate_images_needs_an_emulator(tmp_path, capsys):
    assert main(["deploy", FLOW, "--out", str(tmp_path), "--emulate-images"]) == 2
    assert "--emulate-images needs --endpoint-url" in capsys.readouterr().err
    assert not (tmp_path / "template.yaml").exists()  # refused before writing anything
