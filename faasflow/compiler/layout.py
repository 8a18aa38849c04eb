"""Where a compiled Flow's files go in a project, and where each executor's code is
packaged from: the names the compiler, the deploy tools and the commands share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from faasflow.errors import FlowConfigError
from faasflow.plan import ExecutorSpec

DEFAULT_TEMPLATE = "template.yaml"
FAASFLOW_LAYER_DIR = ".faasflow/build/layers/faasflow"
# Functions whose code is all in the faasflow layer (the gateway, ingest, faasflow's own
# executors) package this folder, which holds only a note.
LAYER_ONLY_CODE_DIR = ".faasflow/build/layer-only"
# A zip-packaged ONNX executor's models: a layer of their own, ``python/faasflow_models/<name>``
# in it, which Lambda (and an emulator) put on the import path: the encoder finds them there.
MODELS_LAYER_ROOT = ".faasflow/build/layers/models"
MODELS_IN_LAYER = "python/faasflow_models"


def models_layer_dir(executor: str) -> str:
    return f"{MODELS_LAYER_ROOT}/{re.sub(r'[^0-9A-Za-z_.-]+', '-', executor)}"


def asl_file_name(flow_name: str) -> str:
    return "orchestrator/" + re.sub(r"[^0-9A-Za-z_.-]+", "-", flow_name).strip("-") + ".asl.json"


def gateway_code_dir(flow_name: str) -> str:
    """The gateway function's own code folder: what it knows of the Flow that is too big
    for its environment (the endpoints' parameter schemas); the code is in the layers."""
    return asl_file_name(flow_name).removesuffix(".asl.json") + ".gateway/"


def batch_asl_file_name(flow_name: str) -> str:
    return asl_file_name(flow_name).removesuffix(".asl.json") + ".batch.asl.json"


@dataclass(frozen=True)
class CodeLocation:
    """Where an executor's code is packaged from, and how it is imported there."""

    code_uri: str
    uses: str


def code_location(spec: ExecutorSpec, project: Path) -> CodeLocation:
    """``functions.doc_store.DocStore`` -> code ``functions/``, imported as ``doc_store.DocStore``:
    the folder of the executor's top-level package becomes the function's code."""
    uses = spec.uses
    if ":" in uses and uses.split(":", 1)[0].endswith(".py"):
        file_part, class_name = uses.rsplit(":", 1)
        path = Path(file_part)
        folder = path.parent.as_posix() or "."
        return CodeLocation(f"{folder}/", f"{path.stem}.{class_name}")
    if "." not in uses:
        raise FlowConfigError(
            "a serverless build needs 'package.module.Class' or 'path/file.py:Class' (a bare class name "
            "cannot be imported inside a function)",
            executor=spec.name,
            field="uses",
        )
    top, rest = uses.split(".", 1)
    if top == "faasflow":  # faasflow's own executors come with the faasflow layer (or image)
        return CodeLocation(f"{LAYER_ONLY_CODE_DIR}/", uses)
    if (project / top).is_dir() and "." in rest:
        return CodeLocation(f"{top}/", rest)
    return CodeLocation("functions/", uses)  # an installed package: it comes with the layers
