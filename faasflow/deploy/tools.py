"""Private virtual environments for the SAM CLI and the MiniStack emulator, and the
interpreters of the Lambda runtimes a Flow can run on.

Neither tool can share an environment with the app or with each other: their pinned
boto3/botocore ranges conflict. The emulator's interpreter is also the one Lambda
handlers run on, so there is one emulator environment per runtime (``ministack-py3.13``),
made with that runtime's Python; ``sam build`` finds the runtime's interpreter on PATH to
install the layers for it. Each environment is created once and recreated only when its
pinned requirement list (recorded in a stamp file) changes.

Where they live: ``$FAASFLOW_TOOLS_DIR``; else ``.tools`` in a faasflow checkout; else the
user's cache (``~/.cache/faasflow/tools``), shared by all their projects.

``faasflow tools`` creates them and prints their paths.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from faasflow.runtimes import DEFAULT_RUNTIME, runtime_version

SAM_REQUIREMENTS: tuple[str, ...] = ("aws-sam-cli==1.170.0",)
MINISTACK_REQUIREMENTS: tuple[str, ...] = (
    "ministack==1.5.33",
    "aws-sam-translator==1.115.0",  # the emulator's CloudFormation runs the SAM transform
    "boto3==1.43.106",  # handlers run on this interpreter and import boto3
    "botocore==1.43.106",
)
# The emulator first: it needs the runtime's Python, so a missing one is reported before SAM is installed.
TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "ministack": (MINISTACK_REQUIREMENTS, "ministack"),
    "sam": (SAM_REQUIREMENTS, "sam"),
}
STAMP_NAME = ".faasflow-tools-stamp"
PYTHON_OVERRIDE_ENV = "FAASFLOW_TOOLS_PYTHON"  # a pythonX.Y to use for that version's environments
THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


class ToolsUnavailable(RuntimeError):
    """The tool environments cannot be created here (no usable Python 3.11, pip failed)."""


def checkout_root() -> Path | None:
    """The faasflow source checkout this package runs from (an editable install), if any."""
    here = Path(__file__).resolve().parent
    for candidate in here.parents:
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                name = tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
            except (OSError, tomllib.TOMLDecodeError):
                return None
            return candidate if name == "faasflow" else None
    return None


def project_root() -> Path:
    """The faasflow checkout, or the current directory for an installed faasflow."""
    return checkout_root() or Path.cwd()


def tools_dir() -> Path:
    """``$FAASFLOW_TOOLS_DIR``, a checkout's ``.tools``, or the user's cache."""
    override = os.environ.get("FAASFLOW_TOOLS_DIR")
    if override:
        return Path(override).resolve()
    checkout = checkout_root()
    if checkout is not None:
        return checkout / ".tools"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "faasflow" / "tools"


def _log(message: str) -> None:
    print(f"[faasflow tools] {message}", file=sys.stderr, flush=True)


def _usable(python: str, version: str) -> bool:
    """True when ``python`` really runs, is ``version`` and can make venvs with pip.

    A pyenv shim exists on PATH for every version pyenv knows, but fails when
    that version is not selected, so existence alone proves nothing.
    """
    probe = "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def _candidates(version: str) -> list[str]:
    """Where a ``python<version>`` may be, most specific first: the override, this
    interpreter, PATH, pyenv's and uv's installs (not on PATH unless selected), the system."""
    name = f"python{version}"
    found: list[str] = []
    if override := os.environ.get(PYTHON_OVERRIDE_ENV):
        found.append(override)
    if THIS_PYTHON == version:
        found.append(sys.executable)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if directory and (Path(directory) / name).is_file():
            found.append(str(Path(directory) / name))
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += sorted(glob.glob(f"{pyenv}/versions/{version}*/bin/{name}"), reverse=True)
    found += sorted(glob.glob(os.path.expanduser(f"~/.local/share/uv/python/cpython-{version}*/bin/{name}")),
                    reverse=True)
    found += [f"/usr/bin/{name}", f"/usr/local/bin/{name}"]
    return found


def find_python(runtime: str = DEFAULT_RUNTIME) -> str:
    """An interpreter of ``runtime``'s Python version able to create virtual environments."""
    version = runtime_version(runtime)
    seen: list[str] = []
    for candidate in _candidates(version):
        if candidate in seen or not Path(candidate).exists():
            continue
        seen.append(candidate)
        if _usable(candidate, version):
            return candidate
    raise ToolsUnavailable(
        f"no usable python{version} found (tried {', '.join(seen) or 'nothing'}); the emulator runs Lambda "
        f"handlers of the {runtime} runtime on it and `sam build` installs the layers with it. Install "
        f"Python {version} (pyenv, uv or the system's packages) or point {PYTHON_OVERRIDE_ENV} at one."
    )


def _stamp_text(python_version: str, requirements: Sequence[str]) -> str:
    return "\n".join([f"python {python_version}", *requirements]) + "\n"


def venv_name(name: str, runtime: str = DEFAULT_RUNTIME) -> str:
    """The emulator has one environment per runtime; the SAM CLI one for all."""
    return f"{name}-py{runtime_version(runtime)}" if name == "ministack" else name


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


def _python_version(name: str, runtime: str) -> str:
    """The Python a tool's environment runs on: the runtime's for the emulator (Lambda
    handlers run on it); this interpreter's for the SAM CLI, which runs on any current one."""
    return runtime_version(runtime) if name == "ministack" else THIS_PYTHON


def ensure_tool(name: str, runtime: str = DEFAULT_RUNTIME) -> Path:
    """Create the tool's environment unless its stamp already matches; return the venv dir."""
    requirements, _ = TOOLS[name]
    root = tools_dir()
    venv = root / venv_name(name, runtime)
    stamp = venv / STAMP_NAME
    wanted = _stamp_text(_python_version(name, runtime), requirements)
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv
    with _locked(root):
        if stamp.is_file() and stamp.read_text() == wanted:  # another process made it meanwhile
            return venv
        python = find_python(runtime) if name == "ministack" else sys.executable
        started = time.monotonic()
        _log(f"creating {venv} with {python}: {' '.join(requirements)}")
        shutil.rmtree(venv, ignore_errors=True)
        _run([python, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run([*pip, *requirements])
        stamp.write_text(wanted)
        _log(f"{name} ready in {time.monotonic() - started:.1f}s")
    return venv


def ensure_tools(runtime: str = DEFAULT_RUNTIME) -> dict[str, Path]:
    """Create the SAM CLI's and ``runtime``'s emulator environments; return each executable."""
    return {name: ensure_tool(name, runtime) / "bin" / exe for name, (_, exe) in TOOLS.items()}


def sam_executable() -> Path:
    """The ``sam`` of ``.tools/sam`` (created on first use)."""
    return ensure_tool("sam") / "bin" / "sam"


def ministack_executable(runtime: str = DEFAULT_RUNTIME) -> Path:
    """The ``ministack`` of ``runtime``'s emulator environment (created on first use)."""
    return ensure_tool("ministack", runtime) / "bin" / "ministack"


def runtime_bin_dir(runtime: str = DEFAULT_RUNTIME) -> Path:
    """A folder whose ``python<version>`` is ``runtime``'s real interpreter, with pip: what
    ``sam build`` looks up on PATH (a pyenv shim there would be found and fail)."""
    return Path(find_python(runtime)).resolve().parent
