"""``faasflow show --svg``: the Flow as an SVG diagram (the one the gateway's page inlines),
well-formed whatever the executors are called, the same on every run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from faasflow import Flow
from faasflow.cli import main
from faasflow.diagram import render_svg, svg_of
from tests.support.dag_executors import Join, Scores, Tag, dag_flow

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "orchestrator" / "flow.yml")
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)<\\script>&\"'"
BAD_XML = "bell\x01vt\x0bend"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def nodes(root: ET.Element) -> list[str]:
    return [g.get("data-executor", "") for g in root.iter(f"{SVG}g") if g.get("class") == "ff-node"]


def edges(root: ET.Element) -> int:
    return sum(1 for p in root.iter(f"{SVG}path") if p.get("class") == "ff-edge")


def test_show_writes_the_reference_flow_as_svg(tmp_path, capsys):
    out = tmp_path / "flow.svg"
    assert main(["show", FLOW, "--svg", str(out)]) == 0
    assert f"SVG diagram written to {out}" in capsys.readouterr().out
    root = parse(out.read_text(encoding="utf-8"))
    assert nodes(root) == ["featurizer", "db", "ranker"]
    shown = texts(root)
    assert {"gateway", "answer", "featurizer", "db", "ranker", "DocStore", "3 shards"} <= set(shown)
    assert {"/query: ALL", "/count: ALL", "/index: ANY", "*: ANY"} <= set(shown)  # polling per endpoint
    assert edges(root) == 4  # gateway -> featurizer -> db -> ranker -> answer


def test_needs_joins_shards_and_polling_are_all_drawn():
    plan = dag_flow().plan
    root = parse(render_svg(plan))
    assert nodes(root) == [spec.name for spec in plan.executors]
    shown = texts(root)
    assert {"2 shards", "3 shards", "/search: ALL", "/split: ANY", "*: ALL"} <= set(shown)
    # one edge per need (join has two), plus tail -> answer
    assert edges(root) == sum(len(spec.needs) for spec in plan.executors) + len(plan.sinks) == 7
    # a sharded executor is drawn as a stack of boxes; the others as one
    stacks = {g.get("data-executor"): len(list(g.iter(f"{SVG}rect")))
              for g in root.iter(f"{SVG}g") if g.get("class") == "ff-node"}
    assert stacks == {"start": 1, "left": 2, "right": 3, "join": 1, "tail": 2}


def test_the_layout_is_deterministic():
    assert render_svg(dag_flow().plan) == render_svg(dag_flow().plan)


def test_hostile_names_are_escaped_and_the_svg_stays_well_formed():
    flow = (Flow(name=HOSTILE)
            .add(uses=Tag, name=HOSTILE)
            .add(uses=Scores, name=BAD_XML, shards=2, needs="gateway")
            .add(uses=Join, name="]]><x>", needs=[HOSTILE, BAD_XML]))
    svg = render_svg(flow.plan)
    assert "<script" not in svg and "<x>" not in svg
    root = parse(svg)
    assert nodes(root)[0] == HOSTILE and nodes(root)[2] == "]]><x>"
    assert nodes(root)[1] == "bell\ufffdvt\ufffdend"  # characters XML cannot hold are replaced
    assert HOSTILE in texts(root) and f"Flow {HOSTILE}" in texts(root)
    assert edges(root) == 5


def test_a_flow_of_the_gateway_alone():
    root = parse(svg_of({"name": "empty", "executors": [], "answer": ["gateway"]}))
    assert nodes(root) == [] and edges(root) == 1 and {"gateway", "answer"} <= set(texts(root))


def test_a_write_failure_is_one_line(tmp_path, capsys, monkeypatch):
    assert main(["show", FLOW, "--svg", str(tmp_path / "missing" / "flow.svg")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"faasflow: error: --svg: cannot write {tmp_path / 'missing' / 'flow.svg'}: no such folder: "
        f"{tmp_path / 'missing'}"]
    assert main(["show", FLOW, "--svg", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err

    def refuse(self: Path, *args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", refuse)
    assert main(["show", FLOW, "--svg", str(tmp_path / "flow.svg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"faasflow: error: cannot write {tmp_path / 'flow.svg'}: Permission denied"]


@pytest.mark.parametrize("option", ["--svg", "--mermaid"])
def test_help_names_the_diagrams(option, capsys):
    with pytest.raises(SystemExit):
        main(["show", "--help"])
    assert option in capsys.readouterr().out


def test_dash_writes_only_the_diagram_to_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["show", FLOW, "--svg", "-"]) == 0
    out = capsys.readouterr().out
    parse(out)  # nothing but the SVG on stdout: it parses as one document
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("argv, message", [
    (["--svg", ""], "--svg needs a file name (or '-' for stdout), got ''"),
    (["--mermaid", "same.txt", "--svg", "same.txt"], "--mermaid and --svg name the same file (same.txt)"),
])
def test_an_output_that_cannot_be_honoured_is_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["show", FLOW, *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "same.txt").exists()
