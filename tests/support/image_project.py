"""A small faasflow project with image-packaged executors, built in a temporary folder:
its own ``functions/``, a tiny model in its model cache, and the Flows the image tests use."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from faasflow import Flow
from faasflow.array import DocumentArray
from faasflow.testing.events import gateway_event
from tests.support.tiny_models import text_model

ROOT = Path(__file__).resolve().parents[2]
ENCODER = "faasflow.executors.onnx_encoder.OnnxEncoder"
TINY = "tiny-text"


def make_project(folder: Path) -> Path:
    (folder / "functions").mkdir(parents=True)
    for name in ("__init__.py", "doc_store.py", "ranker.py"):
        shutil.copy2(ROOT / "functions" / name, folder / "functions" / name)
    text_model(folder / ".faasflow" / "models" / TINY, {"pooling": "mean", "normalize": True, "max_length": 32})
    return folder


def image_flow(gpu_shards: int = 1) -> Flow:
    """An encoder as a Lambda image, the sharded store as zip functions, an encoder on a GPU endpoint."""
    return (
        Flow(name="images")
        .add(uses=ENCODER, name="encoder", package="image", uses_with={"model": TINY})
        .add(uses="functions.doc_store.DocStore", name="db", shards=2, polling={"/query": "ALL", "/index": "ANY"})
        .add(uses=ENCODER, name="gpu-encoder", gpu=True, shards=gpu_shards, uses_with={"model": TINY})
    )


def local_value(value: Any, local: dict[str, str]) -> Any:
    """A template environment value with its ``Fn::Sub`` S3 URLs made local folders."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for suffix, path in local.items():
            if text.endswith(suffix):
                return path
        return "local-bucket"
    return value


def environment_of(variables: dict[str, Any], tmp: Path) -> dict[str, str]:
    local = {"/state/": str(tmp / "state"), "/payloads/": str(tmp / "payloads")}
    return {key: str(local_value(value, local)) for key, value in variables.items()}


def stage_event(flow: Flow, endpoint: str, stage_name: str, docs: DocumentArray, shard: int = 0) -> dict[str, Any]:
    return gateway_event(flow.plan, endpoint, stage_name, docs, shard)
