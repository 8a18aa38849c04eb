"""Splitting JSON-lines files into byte ranges with no pre-pass: every line read exactly once."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from faasflow.batch import Split, file_reader, parse_split, plan_splits, split_bytes_for, split_lines, summarize


def reader(data: bytes):
    return lambda start, end: data[start:end]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=30),
        max_size=40,
    ),
    trailing_newline=st.booleans(),
    split_bytes=st.integers(min_value=1, max_value=64),
)
def test_every_line_is_read_once_in_order(lines, trailing_newline, split_bytes):
    data = "\n".join(lines).encode() + (b"\n" if trailing_newline and lines else b"")
    expected = data.split(b"\n")
    if expected[-1] == b"":  # a final newline ends the last line; it starts none
        expected = expected[:-1]
    got = []
    for split in plan_splits(len(data), split_bytes):
        got.extend(split_lines(reader(data), split, len(data)))
    assert [line for _, line in got] == expected
    offsets = [offset for offset, _ in got]
    assert offsets == sorted(offsets) and all(data[o : o + len(line)] == line for o, line in got)


def test_parse_split_reports_bad_lines_and_summary_numbers_them(tmp_path: Path):
    rows = [json.dumps({"id": f"d{i}", "text": f"line {i}"}) for i in range(10)]
    rows[3] = "{not json"
    rows[7] = json.dumps(["a", "list"])
    rows[8] = json.dumps({"id": "x", "embedding": "nope"})
    rows.append(json.dumps({"text": "no id here"}))
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(rows) + "\n")
    read, size = file_reader(str(path))
    splits = plan_splits(size, 40)
    reports = []
    for split in splits:
        report = parse_split(read, split, size, "docs.jsonl")
        reports.append(
            {
                "index": report.index,
                "lines": report.lines,
                "rejected": report.rejected,
                "indexed": len(report.docs),
                "ids": [d.id for d in report.docs],
            }
        )
    summary = summarize("docs.jsonl", reports)
    assert summary["lines"] == 11 and summary["docs_indexed"] == 8
    assert [r["line"] for r in summary["rejected"]] == [4, 8, 9]
    assert "malformed JSON" in summary["rejected"][0]["reason"]
    assert "embedding" in summary["rejected"][2]["reason"]
    ids = [i for r in reports for i in r["ids"]]
    assert ids[:3] == ["d0", "d1", "d2"] and len(ids[-1]) == 32  # a stable id for the line without one
    again = [i for s in splits for i in (d.id for d in parse_split(read, s, size, "docs.jsonl").docs)]
    assert again == ids


def test_split_size_targets_the_batch_size():
    sample = b"".join(b'{"text": "%d"}\n' % i for i in range(1000))
    per_line = len(sample) / 1000
    assert abs(split_bytes_for(sample, 100) - per_line * 100) < per_line
    assert plan_splits(0, 100) == [] and plan_splits(250, 100)[-1] == Split(2, 200, 250)


def test_faasflow_index_command(tmp_path: Path):
    import subprocess
    import sys

    rows = [json.dumps({"id": f"line-{i}", "text": f"sentence number {i} about things"}) for i in range(1, 501)]
    rows[41] = "oops"
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(rows) + "\n")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "faasflow",
            "index",
            str(path),
            "orchestrator/flow.yml",
            "--json",
            "--workspace",
            str(tmp_path / "ws"),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr  # a rejected line makes the exit code 1
    summary = json.loads(result.stdout)
    assert summary["docs_indexed"] == 499 and summary["lines"] == 500
    assert summary["rejected"] == [{"line": 42, "reason": summary["rejected"][0]["reason"]}]
