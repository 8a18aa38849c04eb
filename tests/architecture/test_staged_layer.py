"""The layer ``faasflow build`` stages carries the run time and nothing of the build time,
and the run time works from it alone: imported with the layer first on ``sys.path`` (as
Lambda puts ``/opt/python``), its handler runs a hop without the compiler or the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from faasflow.compiler.layout import FAASFLOW_LAYER_DIR
from faasflow.deploy.layers import NOT_IN_LAYER, stage_layers

LEFT_OUT = ("compiler", "deploy", "commands", "testing", "cli.py")
SHIPPED = ("runtime/handler.py", "runtime/gateway.py", "wire.py", "codec.py", "stage.py", "serve/app.py", "py.typed")

UPPER = '''
from faasflow import Executor, requests


class Upper(Executor):
    @requests
    def upper(self, docs, **kwargs):
        for doc in docs:
            doc.text = doc.text.upper()
'''

# Runs in a fresh interpreter: the layer, then the function's own code, as in Lambda; the
# environment is the one `faasflow build` writes for an executor function.
_HOP = """
import json, os, sys
layer, code = sys.argv[1], sys.argv[2]
sys.path[:0] = [layer, code]
import faasflow
import faasflow.runtime.gateway, faasflow.runtime.ingest, faasflow.runtime.sagemaker, faasflow.serve.app
from faasflow.runtime import handler
event = {
    "request": {"endpoint": "/default", "parameters": {}, "request_id": "r1"},
    "stage": "upper", "shard": 0, "mode": "single", "inline_limit": 200000,
    "input": json.dumps({"stage": "gateway", "mode": "single"}),
    "values": {"gateway": {"value": {"docs": {"inline": [{"id": "a", "text": "hello"}]}}}},
}
envelope = handler.handle(event)
loaded = {name: getattr(module, "__file__", None) for name, module in sys.modules.items()
          if name == "faasflow" or name.startswith("faasflow.")}
print(json.dumps({"file": faasflow.__file__, "loaded": loaded, "envelope": envelope}))
"""


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The staged layer's ``python/`` folder (what Lambda mounts as ``/opt/python``)."""
    project = tmp_path_factory.mktemp("project")
    stage_layers(project)
    return project / FAASFLOW_LAYER_DIR / "python"


def test_layer_leaves_the_build_time_out(layer: Path) -> None:
    package = layer / "faasflow"
    assert set(LEFT_OUT) <= set(NOT_IN_LAYER)
    assert [name for name in LEFT_OUT if (package / name).exists()] == []
    assert [name for name in SHIPPED if not (package / name).is_file()] == []
    assert not list(package.rglob("__pycache__"))


def test_runtime_runs_from_the_layer_alone(layer: Path, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "upper.py").write_text(UPPER)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("FAASFLOW_", "AWS_LAMBDA_", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(layer), FAASFLOW_EXECUTOR="upper", FAASFLOW_USES="upper.Upper",
               FAASFLOW_SHARD="0", FAASFLOW_SHARDS="1", FAASFLOW_WORKSPACE=str(tmp_path / "workspace"))
    done = subprocess.run([sys.executable, "-c", _HOP, str(layer), str(code)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert Path(result["file"]).is_relative_to(layer), f"faasflow came from {result['file']}, not the layer"
    outside = {name: file for name, file in result["loaded"].items()
               if file is not None and not Path(file).is_relative_to(layer)}
    assert outside == {}, "modules loaded from outside the layer"
    left_out = sorted(name for name in result["loaded"]
                      if any(name == f"faasflow.{part.removesuffix('.py')}"
                             or name.startswith(f"faasflow.{part.removesuffix('.py')}.") for part in NOT_IN_LAYER))
    assert left_out == []
    assert result["envelope"]["docs"] == {"inline": [{"id": "a", "text": "HELLO"}]}
    assert result["envelope"].get("error") is None
