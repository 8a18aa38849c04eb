"""Flow YAML mistakes are one clear FlowConfigError: an unknown top-level key is named (not
ignored, which would run a Flow other than the one written), a syntax error names the file,
line and column, and ``shards`` / ``replicas`` have bounds whose message says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from faasflow import Flow, FlowConfigError
from faasflow.plan import MAX_REPLICAS, MAX_SHARDS

EXECUTOR = "functions.ranker.Ranker"


def load(tmp_path: Path, text: str) -> Flow:
    path = tmp_path / "flow.yml"
    path.write_text(text)
    return Flow.load_config(path).build()


@pytest.mark.parametrize("key", ["executorz", "name", "workspace"])
def test_an_unknown_top_level_key_is_named(tmp_path: Path, key: str):
    with pytest.raises(FlowConfigError, match=f"unknown top-level key.*'{key}'") as raised:
        load(tmp_path, f"jtype: Flow\n{key}: x\nexecutors:\n  - uses: {EXECUTOR}\n")
    assert raised.value.field == key
    assert "known: jtype, version, with, executors" in str(raised.value)


def test_every_unknown_top_level_key_is_named(tmp_path: Path):
    with pytest.raises(FlowConfigError, match="'colour', 'executorz'"):
        load(tmp_path, f"jtype: Flow\nexecutorz: []\ncolour: red\nexecutors:\n  - uses: {EXECUTOR}\n")


def test_jinas_top_level_keys_are_accepted(tmp_path: Path):
    flow = load(tmp_path, f"jtype: Flow\nversion: '1'\nwith: {{name: ok}}\ngateway: {{port: 1234}}\n"
                          f"executors:\n  - uses: {EXECUTOR}\n")
    assert flow.name == "ok"


def test_an_unknown_top_level_key_in_a_mapping():
    with pytest.raises(FlowConfigError, match="'executorz'"):
        Flow.load_config({"jtype": "Flow", "executorz": [{"uses": EXECUTOR}]})


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path):
    text = "jtype: Flow\nexecutors:\n  - name: a\n    uses: [unclosed\n  - name: b\n"
    with pytest.raises(FlowConfigError) as raised:
        load(tmp_path, text)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'flow.yml'}:5:")
    assert "does not parse" in message
    assert "\n" not in message


def test_a_bad_indent_names_its_line(tmp_path: Path):
    with pytest.raises(FlowConfigError, match=r"flow\.yml:4:4: the Flow YAML does not parse"):
        load(tmp_path, "jtype: Flow\nexecutors:\n  - name: a\n   uses: x\n")


def test_a_syntax_error_in_yaml_text_names_the_line():
    with pytest.raises(FlowConfigError, match=r"^the Flow YAML does not parse \(line 3, column 1\): "):
        Flow.load_config("jtype: Flow\nexecutors: [\n")


def test_a_flow_file_that_is_not_text(tmp_path: Path):
    path = tmp_path / "flow.yml"
    path.write_bytes(b"\xff\xfe\x00jtype")
    with pytest.raises(FlowConfigError, match="cannot read the Flow file"):
        Flow.load_config(path)


def test_shards_have_an_upper_bound_that_says_why():
    with pytest.raises(FlowConfigError, match=f"between 1 and {MAX_SHARDS}, got 500.*Lambda function") as raised:
        Flow().add(uses=EXECUTOR, name="db", shards=500).build()
    assert raised.value.executor == "db" and raised.value.field == "shards"


def test_shards_at_the_bound_are_fine():
    assert Flow().add(uses=EXECUTOR, name="db", shards=MAX_SHARDS).build().plan.executors[0].shards == MAX_SHARDS


def test_replicas_have_an_upper_bound_that_says_why(tmp_path: Path):
    with pytest.raises(FlowConfigError, match=f"field 'replicas': must be an integer between 1 and {MAX_REPLICAS}.*"
                                              "Lambda scales"):
        load(tmp_path, f"jtype: Flow\nexecutors:\n  - uses: {EXECUTOR}\n    replicas: {MAX_REPLICAS + 1}\n")


@pytest.mark.parametrize("value", [0, -1, "3", True])
def test_shards_below_the_bound_or_not_integers(value: object):
    with pytest.raises(FlowConfigError, match="field 'shards': must be an integer") as raised:
        Flow().add(uses=EXECUTOR, name="db", shards=value).build()
    assert "Lambda function" not in str(raised.value)
