"""Private virtual environments for the SAM CLI and the MiniStack emulator.

Neither tool can share an environment with the app or with each other: their
pinned boto3/botocore ranges conflict, and the emulator's interpreter is also the
one Lambda handlers run on, so it must be the functions' runtime version (3.11)
and carry boto3. Each lives in ``<project root>/.tools/<name>``, created once and
recreated only when its pinned requirement list (recorded in a stamp file) changes.

``python -m faasflow.deploy.tools`` creates both and prints their paths.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

RUNTIME_VERSION = (3, 11)
RUNTIME = "3.11"

SAM_REQUIREMENTS: tuple[str, ...] = ("aws-sam-cli==1.170.0",)
MINISTACK_REQUIREMENTS: tuple[str, ...] = (
    "ministack==1.5.33",
    "aws-sam-translator==1.115.0",  # the emulator's CloudFormation runs the SAM transform
    "boto3==1.43.106",  # handlers run on this interpreter and import boto3
    "botocore==1.43.106",
)
TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "sam": (SAM_REQUIREMENTS, "sam"),
    "ministack": (MINISTACK_REQUIREMENTS, "ministack"),
}
STAMP_NAME = ".faasflow-tools-stamp"


class ToolsUnavailable(RuntimeError):
    """The tool environments cannot be created here (no usable Python 3.11, pip failed)."""


def project_root() -> Path:
    """The checkout holding this package (the directory with ``pyproject.toml``)."""
    here = Path(__file__).resolve().parent
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return Path.cwd()


def tools_dir() -> Path:
    """``$FAASFLOW_TOOLS_DIR`` or ``<project root>/.tools``."""
    override = os.environ.get("FAASFLOW_TOOLS_DIR")
    return Path(override).resolve() if override else project_root() / ".tools"


def _log(message: str) -> None:
    print(f"[faasflow tools] {message}", file=sys.stderr, flush=True)


def _usable(python: str) -> bool:
    """True when ``python`` really runs, is 3.11 and can make venvs with pip.

    A pyenv shim exists on PATH for every version pyenv knows, but fails when
    that version is not selected, so existence alone proves nothing.
    """
    probe = "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == RUNTIME


def find_python() -> str:
    """A Python 3.11 interpreter able to create virtual environments."""
    name = f"python{RUNTIME}"
    candidates: list[str] = []
    if override := os.environ.get("FAASFLOW_TOOLS_PYTHON"):
        candidates.append(override)
    if sys.version_info[:2] == RUNTIME_VERSION:
        candidates.append(sys.executable)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if directory and (Path(directory) / name).is_file():
            candidates.append(str(Path(directory) / name))
    candidates += [f"/usr/bin/{name}", f"/usr/local/bin/{name}"]
    seen: set[str] = set()
    for candidate in candidates:
        if candidate in seen or not Path(candidate).exists():
            continue
        seen.add(candidate)
        if _usable(candidate):
            return candidate
    raise ToolsUnavailable(
        f"no usable {name} found (tried {sorted(seen) or 'nothing'}); the SAM CLI and the emulator "
        f"need Python {RUNTIME} because Lambda handlers run on the emulator's interpreter. "
        "Install it or point FAASFLOW_TOOLS_PYTHON at one."
    )


def _stamp_text(requirements: Sequence[str]) -> str:
    return "\n".join([f"python {RUNTIME}", *requirements]) + "\n"


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise creation across processes (parallel test workers, two shells)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: Sequence[str]) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise ToolsUnavailable(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")


def ensure_tool(name: str) -> Path:
    """Create ``.tools/<name>`` unless its stamp already matches; return the venv dir."""
    requirements, _ = TOOLS[name]
    root = tools_dir()
    venv = root / name
    stamp = venv / STAMP_NAME
    wanted = _stamp_text(requirements)
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv
    with _locked(root):
        if stamp.is_file() and stamp.read_text() == wanted:  # another process made it meanwhile
            return venv
        python = find_python()
        started = time.monotonic()
        _log(f"creating {venv} with {python}: {' '.join(requirements)}")
        shutil.rmtree(venv, ignore_errors=True)
        _run([python, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run([*pip, *requirements])
        stamp.write_text(wanted)
        _log(f"{name} ready in {time.monotonic() - started:.1f}s")
    return venv


def ensure_tools() -> dict[str, Path]:
    """Create every tool environment; return each tool's executable."""
    return {name: ensure_tool(name) / "bin" / exe for name, (_, exe) in TOOLS.items()}


def sam_executable() -> Path:
    """The ``sam`` of ``.tools/sam`` (created on first use)."""
    return ensure_tool("sam") / "bin" / "sam"


def ministack_executable() -> Path:
    """The ``ministack`` of ``.tools/ministack`` (created on first use)."""
    return ensure_tool("ministack") / "bin" / "ministack"


def main() -> int:
    try:
        paths = ensure_tools()
    except ToolsUnavailable as exc:
        _log(str(exc))
        return 1
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
