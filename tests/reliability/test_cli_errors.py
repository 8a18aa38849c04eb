"""The command line never shows a traceback: a mistake in what the user typed or named is
one line on stderr, ``faasflow: error: ...`` (or argparse's usage and error) with exit code
2; a missing extra names the extra to install; an unexpected exception is one line with a
hint, and ``FAASFLOW_DEBUG=1`` shows its traceback. Each case runs the real CLI in a
subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "orchestrator" / "flow.yml")
TIMEOUT = 120


def faasflow(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faasflow", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def main_with(setup: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``faasflow.cli.main(args)`` in a fresh interpreter after ``setup`` (e.g. hiding a module)."""
    code = f"import sys\n{setup}\nfrom faasflow.cli import main\nsys.exit(main({list(args)!r}))\n"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def assert_one_line_error(done: subprocess.CompletedProcess, *, code: int = 2, names: str = "") -> str:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("faasflow: error: "), done.stderr
    assert names in lines[0]
    assert done.returncode == code, done.stderr
    return lines[0]


def assert_usage_error(done: subprocess.CompletedProcess, command: str, argument: str) -> None:
    """argparse's own form: the usage, then ``faasflow COMMAND: error: argument X: ...``, exit 2."""
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"usage: faasflow {command}"), done.stderr
    assert lines[-1].startswith(f"faasflow {command}: error: argument {argument}: "), done.stderr
    assert done.returncode == 2, done.stderr


# --- files the user named ---


def test_run_with_a_missing_input_file(tmp_path: Path):
    done = faasflow("run", FLOW, "--on", "/index", "--input", str(tmp_path / "missing.jsonl"))
    assert_one_line_error(done, names="missing.jsonl")


def test_index_with_a_missing_input_file(tmp_path: Path):
    done = faasflow("index", str(tmp_path / "missing.jsonl"), FLOW)
    assert_one_line_error(done, names="missing.jsonl")


def test_run_with_a_folder_as_input(tmp_path: Path):
    done = faasflow("run", FLOW, "--on", "/index", "--input", str(tmp_path))
    assert "is a folder" in assert_one_line_error(done, names=str(tmp_path))


def test_index_with_a_folder_as_input(tmp_path: Path):
    done = faasflow("index", str(tmp_path), FLOW)
    assert "is a folder" in assert_one_line_error(done, names=str(tmp_path))


def test_run_with_a_folder_as_output(tmp_path: Path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "hello"}\n')
    done = faasflow("run", FLOW, "--on", "/index", "--input", str(docs), "--output", str(tmp_path))
    line = assert_one_line_error(done, names="--output")
    assert "is a folder" in line


def test_run_with_output_in_a_missing_folder(tmp_path: Path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "hello"}\n')
    done = faasflow("run", FLOW, "--on", "/index", "--input", str(docs), "--output", str(tmp_path / "no" / "o.jsonl"))
    assert_one_line_error(done, names="no such folder")


def test_a_missing_flow_file(tmp_path: Path):
    assert_one_line_error(faasflow("show", str(tmp_path / "nope.yml")), names="nope.yml")


def test_a_folder_as_the_flow_file(tmp_path: Path):
    assert_one_line_error(faasflow("show", str(tmp_path)), names=str(tmp_path))


def test_a_flow_file_with_an_unknown_top_level_key(tmp_path: Path):
    flow = tmp_path / "flow.yml"
    flow.write_text("jtype: Flow\nexecutorz:\n  - uses: functions.ranker.Ranker\n")
    assert_one_line_error(faasflow("show", str(flow)), names="'executorz'")


def test_a_flow_file_that_does_not_parse(tmp_path: Path):
    flow = tmp_path / "flow.yml"
    flow.write_text("jtype: Flow\nexecutors:\n  - name: a\n   uses: [x\n")
    assert_one_line_error(faasflow("show", str(flow)), names=f"{flow}:4:")


def test_a_flow_port_out_of_range_is_refused_before_serving(tmp_path: Path):
    flow = tmp_path / "flow.yml"
    flow.write_text("jtype: Flow\nwith: {port: 99999}\nexecutors:\n  - uses: functions.ranker.Ranker\n")
    assert_one_line_error(faasflow("serve", str(flow), "--workspace", str(tmp_path / "ws")), names="99999")


# --- numbers refused up front, by argparse ---


@pytest.mark.parametrize("value", ["0", "-1", "ten"])
def test_index_batch_size_must_be_positive(tmp_path: Path, value: str):
    assert_usage_error(faasflow("index", "--batch-size", value, str(tmp_path / "docs.jsonl"), FLOW),
                       "index", "--batch-size")


@pytest.mark.parametrize("value", ["0", "-5"])
def test_run_request_size_must_be_positive(value: str):
    assert_usage_error(faasflow("run", FLOW, "--on", "/index", "--input", "-", "--request-size", value),
                       "run", "--request-size")


@pytest.mark.parametrize("value", ["99999", "65536", "-1"])
def test_serve_port_must_be_a_port(value: str):
    assert_usage_error(faasflow("serve", FLOW, "--port", value), "serve", "--port")


def test_ping_timeout_must_be_positive():
    assert_usage_error(faasflow("ping", "http://127.0.0.1:9", "--timeout", "0"), "ping", "--timeout")


# --- extras not installed ---


@pytest.mark.parametrize(
    ("hidden", "args", "extra"),
    [
        ("fastapi", ("serve", FLOW), "serve"),
        ("uvicorn", ("serve", FLOW), "serve"),
        ("boto3", ("deploy", FLOW, "--out", "{tmp}"), "aws"),
        ("boto3", ("status", "--stack-name", "s"), "aws"),
        ("httpx", ("ping", "http://127.0.0.1:9"), "serve"),
    ],
)
def test_a_missing_extra_names_it(tmp_path: Path, hidden: str, args: tuple[str, ...], extra: str):
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    done = main_with(f"sys.modules[{hidden!r}] = None", *argv)
    line = assert_one_line_error(done)
    assert line == (f"faasflow: error: faasflow {argv[0]} needs the '{extra}' extra: "
                    f"pip install 'faasflow[{extra}]'")
    assert not list(tmp_path.iterdir()), "nothing is written before the check"


# --- a bug is one line too, with a way to see its traceback ---

BROKEN_SHOW = textwrap.dedent("""
    from faasflow.commands import show

    def broken(args):
        raise TypeError("a bug\\nits second line")

    show.run = broken
""")


def test_an_unexpected_error_is_one_line_with_a_hint():
    done = main_with(BROKEN_SHOW, "show", FLOW, env={"FAASFLOW_DEBUG": ""})
    line = assert_one_line_error(done, code=1, names="unexpected TypeError: a bug")
    assert "FAASFLOW_DEBUG=1" in line


def test_faasflow_debug_shows_the_traceback():
    done = main_with(BROKEN_SHOW, "show", FLOW, env={"FAASFLOW_DEBUG": "1"})
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1] == "faasflow: error: unexpected TypeError: a bug"


def test_a_user_error_shows_its_traceback_with_faasflow_debug(tmp_path: Path):
    done = faasflow("show", str(tmp_path / "nope.yml"), env={"FAASFLOW_DEBUG": "1"})
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("faasflow: error: no such Flow file")
