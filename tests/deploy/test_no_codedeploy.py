"""An emulator without CodeDeploy gets a rollout's aliases without its traffic shift, from a
copy of the template beside it; a template without a rollout is deployed as it is."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from faasflow import Flow
from faasflow.deploy.layers import write
from faasflow.deploy.no_codedeploy import without_traffic_shifting
from faasflow.deploy.template_file import read_template

ROOT = Path(__file__).resolve().parents[2]


def project_of(tmp_path: Path, **options) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "functions", project / "functions")
    flow = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
    for key, value in options.items():
        setattr(flow, key, value)
    write(flow.plan, project)
    return project


def test_a_rollout_keeps_its_aliases_without_codedeploy(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    project = project_of(tmp_path, deploy={"strategy": "linear", "percent": 20, "minutes": 2})
    with caplog.at_level(logging.WARNING, logger="faasflow.deploy"):
        copy = without_traffic_shifting(project, "template.yaml")
    assert copy == "template.no-codedeploy.yaml" and (project / copy).parent == project  # relative paths hold
    resources = read_template((project / copy).read_text())["Resources"]
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::CodeDeploy::")]
    functions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert all("DeploymentPreference" not in p for p in functions)
    assert sum(p.get("AutoPublishAlias") == "live" for p in functions) == 5
    assert [r.getMessage() for r in caplog.records] == [
        "faasflow: note: the emulator has no CodeDeploy: 5 executor function(s) are deployed behind their alias, "
        "which the state machines invoke, without the gradual traffic shift and its alarm rollback (those run on AWS)"]
    original = read_template((project / "template.yaml").read_text())["Resources"]
    assert "TrafficShiftConfig" in original  # the built template itself is untouched


def test_a_template_without_a_rollout_is_deployed_as_it_is(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    project = project_of(tmp_path)
    with caplog.at_level(logging.WARNING, logger="faasflow.deploy"):
        assert without_traffic_shifting(project, "template.yaml") == "template.yaml"
    assert not caplog.records and not (project / "template.no-codedeploy.yaml").exists()
