"""``faasflow cost`` end to end on the reference app: the text and JSON reports, and the
one-line refusals of what the user named (a Flow that does not build, a bad sample, a
number out of range)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from faasflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "orchestrator" / "flow.yml")


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("faasflow: error: ")
    return lines[0]


def test_help_lists_cost(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert re.search(r"^\s+cost\s", capsys.readouterr().out, re.MULTILINE)


def test_text_report_of_the_reference_app(capsys):
    assert main(["cost", FLOW, "--requests", "5000000"]) == 0
    out = capsys.readouterr().out
    assert "Flow 'sharded-search' on AWS" in out
    assert "prices: us-east-1, USD, of 20" in out
    assert "assumed (--sample FILE measures them): a stage shard 10 ms + 1 ms a doc" in out
    for endpoint in ("/count", "/index", "/query", "/search"):
        assert re.search(rf"^{re.escape(endpoint)}\s+\$[\d.]+\s+\$[\d,.]+\s+\d+ ms", out, re.MULTILINE), endpoint
    assert "featurizer -> db x3 (ALL) -> ranker" in out
    assert "Express: 11 state transitions (not billed), 123 ms billed as 200 ms at 64 MB" in out
    assert re.search(r"^  db x3 +512 MB +11 each .* inline$", out, re.MULTILINE)
    assert "latency: 178 ms = API Gateway 25 + gateway 15 + start 15 + featurizer 41 + db 41 + ranker 41" in out
    assert "a hop 30 ms a stage" in out
    assert "one Lambda function: every stage in sequence at 512 MB, no state machine, no claim checks" in out
    assert re.search(r"^/query +\$7.64 +\$38.21 +178 ms +\$4.28 +95 ms +featurizer", out, re.MULTILINE)
    assert "104 Standard transitions (billed)" in out


def test_json_report_parses_and_totals_add_up(capsys):
    assert main(["cost", FLOW, "--json", "--docs-per-request", "3", "--requests", "1000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flow"] == "sharded-search" and data["docs_per_request"] == 3
    assert [cost["endpoint"] for cost in data["endpoints"]] == ["/count", "/index", "/query", "/search", "*"]
    for cost in data["endpoints"]:
        total = sum(item["dollars"] for item in cost["cost"]["items"])
        assert cost["cost"]["per_request"] == pytest.approx(total)
        assert cost["cost"]["per_month"] == pytest.approx(total * 1000)
        assert not cost["measured"]
    assert all(price["source"] for price in data["prices"]["prices"].values())
    assert data["batch"]["splits"] == 100 and data["one_function"][0]["memory_mb"] == 512


def test_a_flow_that_does_not_build_is_one_line(tmp_path, capsys):
    flow = tmp_path / "flow.yml"
    flow.write_text("jtype: Flow\nexecutors:\n  - name: ghost\n    uses: nosuch_package.module.Ghost\n")
    assert main(["cost", str(flow)]) == 2
    line = one_error_line(capsys)
    assert "executor 'ghost'" in line and "nosuch_package.module.Ghost" in line


def test_a_missing_flow_is_one_line(tmp_path, capsys):
    assert main(["cost", str(tmp_path / "nope.yml")]) == 2
    assert "no such Flow file" in one_error_line(capsys)


def test_a_malformed_sample_names_the_file_and_line(tmp_path, capsys):
    sample = tmp_path / "docs.jsonl"
    sample.write_text('{"id": "a", "text": "fine"}\n\n{"id": "b", "text": \n')
    assert main(["cost", FLOW, "--sample", str(sample)]) == 2
    assert f"--sample {sample}:3: " in one_error_line(capsys)


@pytest.mark.parametrize(("make", "says"), [
    (lambda folder: folder / "missing.jsonl", "no such file"),
    (lambda folder: folder, "is a folder"),
    (lambda folder: folder / "empty.jsonl", "no documents"),
])
def test_an_unusable_sample_is_one_line(tmp_path, capsys, make, says):
    (tmp_path / "empty.jsonl").write_text("\n")
    path = make(tmp_path)
    assert main(["cost", FLOW, "--sample", str(path)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and says in line


@pytest.mark.parametrize("args", [
    ["--requests", "0"], ["--requests", "many"], ["--requests", str(10**12 + 1)],
    ["--docs-per-request", "0"], ["--docs-per-request", "10001"], ["--docs-per-request", "1.5"]])
def test_numbers_out_of_range_are_refused(capsys, args):
    with pytest.raises(SystemExit) as exit_:
        main(["cost", FLOW, *args])
    assert exit_.value.code == 2
    assert f"argument {args[0]}: " in capsys.readouterr().err
