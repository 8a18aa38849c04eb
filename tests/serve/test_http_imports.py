"""Cold starts: ``import faasflow`` imports no server or HTTP library, and creating the
gateway app builds no schema (it runs on every Lambda cold start)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["fastapi", "starlette", "uvicorn", "httpx", "prometheus_client", "pydantic"]


def modules_after(code: str) -> list[str]:
    script = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_import_faasflow_imports_no_server_or_client_library():
    loaded = modules_after("import faasflow\nfrom faasflow import Client, Flow\nimport faasflow.cli")
    assert [m for m in HEAVY if m in loaded] == []


def test_creating_the_app_builds_no_schema():
    loaded = modules_after(
        "from faasflow import Flow\nfrom faasflow.embedded import EmbeddedBackend\n"
        "from faasflow.serve import create_app\n"
        "flow = Flow().add(uses='functions.ranker.Ranker', name='ranker')\n"
        "with flow:\n    create_app(EmbeddedBackend(flow))"
    )
    assert "faasflow.serve.schema" not in loaded
