"""`faasflow tools`: the emulator and SAM CLI environments for a runtime, or one line saying
what is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def tools(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faasflow", "tools", *args], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=120)


def test_a_runtime_without_its_python_is_one_line_naming_what_to_install(tmp_path: Path) -> None:
    # no python3.12 anywhere it looks: not on PATH, not under pyenv or uv, no override
    env = {"PATH": "/nonexistent", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv"),
           "FAASFLOW_TOOLS_DIR": str(tmp_path / "tools")}
    done = tools("--runtime", "python3.12", env=env)
    if Path("/usr/bin/python3.12").exists() or Path("/usr/local/bin/python3.12").exists():
        return  # this machine has one where every machine looks: nothing to refuse
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faasflow: error: no usable python3.12 found")
    assert "FAASFLOW_TOOLS_PYTHON" in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "tools" / "sam").exists()  # nothing installed half-way


def test_an_unknown_runtime_is_a_usage_error(tmp_path: Path) -> None:
    done = tools("--runtime", "python3.9", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 2 and "invalid choice: 'python3.9'" in done.stderr
