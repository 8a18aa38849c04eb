"""The tool-environment and deploy plumbing, without starting anything heavy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from faasflow.deploy import sam as deploy
from faasflow.deploy import tools


@pytest.mark.emulator
def test_tools_are_reused_once_stamped(emulator_tools: None) -> None:
    started = time.monotonic()
    paths = tools.ensure_tools()
    assert time.monotonic() - started < 2  # the stamp matched: nothing was reinstalled
    assert paths["sam"].name == "sam" and paths["sam"].exists()
    assert paths["ministack"].exists()
    stamp = (paths["ministack"].parent.parent / tools.STAMP_NAME).read_text()
    assert all(requirement in stamp for requirement in tools.MINISTACK_REQUIREMENTS)


def test_no_usable_python_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tools, "RUNTIME", "3.99")
    monkeypatch.setattr(tools, "RUNTIME_VERSION", (3, 99))
    monkeypatch.setenv("FAASFLOW_TOOLS_DIR", str(tmp_path / "tools"))
    with pytest.raises(tools.ToolsUnavailable, match=r"python3\.99"):
        tools.ensure_tool("sam")
    assert not (tmp_path / "tools" / "sam").exists()


def test_faasflow_sam_overrides_the_pinned_sam(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "my-sam"
    fake.write_text('#!/bin/sh\necho "fake sam $*"\nexit 2\n')
    fake.chmod(0o755)
    monkeypatch.setenv("FAASFLOW_SAM", str(fake))
    assert deploy.sam_command() == [str(fake)]
    with pytest.raises(deploy.DeployError) as info:
        deploy.validate(tmp_path)
    assert info.value.returncode == 2
    assert "fake sam validate --lint" in str(info.value)
    monkeypatch.setenv("FAASFLOW_SAM", str(tmp_path / "missing"))
    with pytest.raises(deploy.DeployError, match="not an executable"):
        deploy.sam_command()
