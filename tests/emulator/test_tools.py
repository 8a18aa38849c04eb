"""The tool-environment and deploy plumbing, without starting anything heavy."""

from __future__ import annotations

import subprocess
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
    assert stamp.startswith("python 3.13\n") and paths["ministack"].parent.parent.name == "ministack-py3.13"
    emulator_python = paths["ministack"].with_name("python")
    version = subprocess.run([emulator_python, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout
    assert version.strip() == "(3, 13)"  # the handlers of the default runtime run on its own Python


def test_no_usable_python_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tools, "_candidates", lambda version: ["/nonexistent/python3.12"])
    monkeypatch.setenv("FAASFLOW_TOOLS_DIR", str(tmp_path / "tools"))
    with pytest.raises(tools.ToolsUnavailable, match=r"no usable python3\.12 found .*FAASFLOW_TOOLS_PYTHON"):
        tools.ensure_tool("ministack", "python3.12")
    assert not (tmp_path / "tools" / "ministack-py3.12").exists()


def test_an_unknown_runtime_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"one of python3\.11, python3\.12, python3\.13, got 'python3\.9'"):
        tools.ensure_tool("ministack", "python3.9")


def test_pyenv_installs_are_found_though_not_selected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A fresh machine of this kind has python3.12 and 3.13 under pyenv, not on PATH."""
    fake = tmp_path / "pyenv" / "versions" / "3.12.9" / "bin" / "python3.12"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("FAASFLOW_TOOLS_PYTHON", raising=False)
    assert str(fake) in tools._candidates("3.12")


def test_tools_live_in_the_checkout_or_the_users_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FAASFLOW_TOOLS_DIR", raising=False)
    assert tools.tools_dir() == tools.checkout_root() / ".tools"  # this is an editable checkout
    monkeypatch.setattr(tools, "checkout_root", lambda: None)  # as installed from a wheel
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tools.tools_dir() == tmp_path / "faasflow" / "tools"


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
