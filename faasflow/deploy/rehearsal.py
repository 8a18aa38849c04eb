"""Run a generated image's entry point without Docker.

Where no Docker engine exists (CI, these machines), an image is rehearsed instead: its
Dockerfile's ``COPY`` lines are carried out into a folder standing for the image's file
system, its ``ENV`` lines become the environment (image paths mapped into that folder),
and its command runs on a virtual env made from the image's own generated requirements
(``.tools/image-<kind>``, remade when they change). What the rehearsal checks is what can
drift: the files the Dockerfile copies, the layout they land in, the requirements, and
the entry point's contract. It does not check the base image itself.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from faasflow.compiler import images
from faasflow.deploy.tools import ToolsUnavailable, tools_dir

# What the base images define that the generated Dockerfiles rely on.
BASE_ENV = {images.LAMBDA_BASE: {"LAMBDA_TASK_ROOT": "/var/task"}, images.GPU_BASE: {}}
BASE_WORKDIR = {images.LAMBDA_BASE: "/var/task", images.GPU_BASE: "/"}
BASE_ENTRYPOINT = {images.LAMBDA_BASE: ["/lambda-entrypoint.sh"], images.GPU_BASE: []}
PATH_VARIABLES = ("PYTHONPATH", "FAASFLOW_MODEL_DIR", "LAMBDA_TASK_ROOT")
STAMP = ".faasflow-image-stamp"


@dataclass
class Rehearsal:
    """An image laid out in ``root``: its environment, working directory and command."""

    root: Path
    base: str
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    def path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")


def _expand(value: str, env: dict[str, str]) -> str:
    for key, known in sorted(env.items(), key=lambda kv: -len(kv[0])):
        value = value.replace(f"${{{key}}}", known).replace(f"${key}", known)
    return value


def _logical_lines(text: str) -> list[str]:
    lines, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines


def rehearse(dockerfile: Path, context: Path, root: Path) -> Rehearsal:
    """Carry out ``dockerfile``'s COPY, ENV, WORKDIR, ENTRYPOINT and CMD into ``root``."""
    rehearsal: Rehearsal | None = None
    image_env: dict[str, str] = {}
    for line in _logical_lines(dockerfile.read_text()):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            base = rest.split()[0]
            if base not in BASE_ENV:
                raise ValueError(f"{dockerfile}: no rehearsal for base image {base}")
            image_env = dict(BASE_ENV[base])
            rehearsal = Rehearsal(root=root, base=base, workdir=root / BASE_WORKDIR[base].lstrip("/"),
                                  entrypoint=list(BASE_ENTRYPOINT[base]))
            continue
        if rehearsal is None:
            raise ValueError(f"{dockerfile}: {instruction} before FROM")
        if instruction == "COPY":
            source, target = (_expand(part, image_env) for part in shlex.split(rest))
            origin, destination = context / source, rehearsal.path(target)
            if not origin.exists():
                raise FileNotFoundError(f"{dockerfile}: COPY {source}: no such file or folder in {context}")
            if origin.is_dir():
                shutil.copytree(origin, destination, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination)
        elif instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                image_env[key] = _expand(value, image_env)
        elif instruction == "WORKDIR":
            rehearsal.workdir = rehearsal.path(_expand(rest, image_env))
        elif instruction == "ENTRYPOINT":
            rehearsal.entrypoint = json.loads(rest)
        elif instruction == "CMD":
            rehearsal.cmd = json.loads(rest)
    if rehearsal is None:
        raise ValueError(f"{dockerfile}: no FROM")
    for key, value in image_env.items():
        if key == "PATH":
            continue  # the rehearsal's interpreter is the env's, named directly
        if key in PATH_VARIABLES:
            value = os.pathsep.join(str(rehearsal.path(p)) if p.startswith("/") else p for p in value.split(":"))
        rehearsal.env[key] = value
    assert rehearsal.workdir is not None
    rehearsal.workdir.mkdir(parents=True, exist_ok=True)
    return rehearsal


def find_image_python() -> tuple[str, bool]:
    """An interpreter of the images' Python version, or this one; and whether it matches."""
    wanted = images.IMAGE_PYTHON
    candidates = [os.environ.get("FAASFLOW_IMAGE_PYTHON", ""), shutil.which(f"python{wanted}") or "",
                  *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{wanted}*/bin/python{wanted}"))),
                  f"/usr/bin/python{wanted}", f"/usr/local/bin/python{wanted}"]
    probe = "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run([candidate, "-c", probe], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip() == wanted:
            return candidate, True
    return sys.executable, False


def image_env(kind: str, python: str | None = None, name: str | None = None,
              runtime: str = images.IMAGE_RUNTIME) -> Path:
    """``.tools/image-<kind>``: a virtual env with exactly the image's requirements, on the
    images' Python version (or on ``python``, in ``.tools/<name>``)."""
    requirements = images.requirements_text(kind, runtime)
    exact = True
    if python is None:
        python, exact = find_image_python()
    venv = tools_dir() / (name or f"image-{kind}")
    stamp_text = f"{python}\n{requirements}"
    stamp = venv / STAMP
    if stamp.is_file() and stamp.read_text() == stamp_text:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    if not exact:
        print(f"[faasflow images] no python{images.IMAGE_PYTHON} here: the {kind} image's env uses {python}",
              file=sys.stderr)
    requirements_file = venv.parent / f"{venv.name}-requirements.txt"
    requirements_file.write_text(requirements)
    for cmd in ([python, "-m", "venv", str(venv)],
                [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 "-r", str(requirements_file)]):
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise ToolsUnavailable(f"{' '.join(cmd)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    stamp.write_text(stamp_text)
    return venv


def site_packages(venv: Path) -> Path:
    """The env's site-packages folder."""
    found = sorted(venv.glob("lib/python*/site-packages"))
    if not found:
        raise ToolsUnavailable(f"{venv} has no lib/python*/site-packages")
    return found[0]


def command(rehearsal: Rehearsal, venv: Path) -> list[str]:
    """The image's command, with its ``python`` (or the Lambda runtime's entry point) run
    on the env's interpreter."""
    python = str(venv / "bin" / "python")
    if rehearsal.entrypoint == BASE_ENTRYPOINT[images.LAMBDA_BASE]:
        # run as a script (-P: its folder not on sys.path), so that nothing of faasflow is
        # imported before the handler's module: the init it times is the whole init
        # (the driver is this package's own file: the image's faasflow carries only the run-time part)
        driver = Path(__file__).with_name("lambda_driver.py")
        return [python, "-P", str(driver), *rehearsal.cmd]
    argv = [*rehearsal.entrypoint, *rehearsal.cmd]
    if argv and Path(argv[0]).name.startswith("python"):
        argv[0] = python
    return argv
