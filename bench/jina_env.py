"""A virtual env of its own for the Jina side of the benchmark.

Jina is never a faasflow dependency: it needs pydantic 1, grpcio <= 1.68, urllib3 < 2 and the
docarray v1 stack, none of which may leak into the project's env. So the comparison runs in a
separate venv under ``.bench/`` (git-ignored), built once and reused.

The pins below are a set that resolves and runs on Python 3.11 (jina 3.33.1 has no wheel for
newer Pythons). Left unpinned, pip gives up on
Jina's open-ended OpenTelemetry requirements (the instrumentation packages must all come from
one release), and picks docarray >= 0.30, whose v2 API is not the one the runner is written for.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".bench" / "jina-venv"
BASE_PYTHON = "python3.11"
RUNNER = Path(__file__).resolve().with_name("jina_sharded_search.py")

REQUIREMENTS: tuple[str, ...] = (
    "jina==3.33.1",
    "docarray==0.21.1",
    "pydantic==1.10.27",
    "numpy==1.26.4",
    "protobuf==5.29.6",
    "grpcio==1.68.0",
    "grpcio-reflection==1.68.0",
    "grpcio-health-checking==1.68.0",
    "fastapi==0.115.14",
    "uvicorn==0.23.1",
    "urllib3==1.26.20",
    "opentelemetry-api==1.29.0",
    "opentelemetry-sdk==1.29.0",
    "opentelemetry-exporter-otlp==1.29.0",
    "opentelemetry-exporter-otlp-proto-grpc==1.29.0",
    "opentelemetry-exporter-prometheus==0.50b0",
    "opentelemetry-instrumentation-grpc==0.50b0",
    "opentelemetry-instrumentation-aiohttp-client==0.50b0",
    "opentelemetry-instrumentation-fastapi==0.50b0",
    # what `import faasflow` needs, for the executors that reuse faasflow's kernels
    "orjson==3.13.0",
    "PyYAML==6.0.3",
    "rich==15.0.0",
)

# Written after a successful install, holding the requirements it installed: a missing or
# different stamp (an interrupted install, changed pins) means install again.
STAMP_NAME = ".installed-requirements"


def _log(message: str) -> None:
    print(f"[jina-env] {message}", file=sys.stderr, flush=True)


def _base_python() -> str:
    found = shutil.which(BASE_PYTHON)
    if found:
        return found
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    raise RuntimeError(f"{BASE_PYTHON} is needed: jina 3.33.1 publishes wheels up to CPython 3.11 only")


def ensure_jina_python(venv: Path = VENV) -> Path:
    """The python of a venv with Jina and the pins above, creating or updating it if needed."""
    python = venv / "bin" / "python"
    stamp = venv / STAMP_NAME
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python

    started = time.perf_counter()
    if not python.exists():
        _log(f"creating {venv} with {BASE_PYTHON}")
        subprocess.run([_base_python(), "-m", "venv", "--clear", str(venv)], check=True)
    stamp.unlink(missing_ok=True)
    _log(f"installing {REQUIREMENTS[0]} and {len(REQUIREMENTS) - 1} pinned packages (takes a minute or two)")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS],
        check=True,
    )
    stamp.write_text(wanted)
    _log(f"ready in {time.perf_counter() - started:.0f} s: {python}")
    return python


def run_jina_benchmark(
    corpus: Path, docs: int, queries: int, json_out: Path, request_size: int = 100
) -> dict[str, Any]:
    """Run ``jina_sharded_search.py`` in the Jina venv and return the figures it wrote."""
    python = ensure_jina_python()
    subprocess.run(
        [
            str(python),
            str(RUNNER),
            "--corpus",
            str(corpus),
            "--docs",
            str(docs),
            "--queries",
            str(queries),
            "--request-size",
            str(request_size),
            "--json-out",
            str(json_out),
        ],
        check=True,
        cwd=ROOT,
    )
    return json.loads(Path(json_out).read_text())


if __name__ == "__main__":
    print(ensure_jina_python())
