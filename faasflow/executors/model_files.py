"""Where a model's files are: a path, or a name looked up in the model cache.

A model folder holds ``model.onnx``, optionally ``tokenizer.json`` (a Hugging Face
``tokenizers`` file) and ``faasflow-model.json`` (the encoder's defaults for this model:
pooling, normalization, maximum length, input and output names). Folders live outside
git: ``make model`` exports the default one into ``.faasflow/models``; a container image
bakes it under ``/opt/faasflow/models`` and points ``FAASFLOW_MODEL_DIR`` there.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from faasflow.errors import FaasflowError

MODEL_DIR_ENV = "FAASFLOW_MODEL_DIR"
DEFAULT_MODEL = "all-MiniLM-L6-v2"
MANIFEST = "faasflow-model.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CACHE_DIR = Path(".faasflow") / "models"
LAYER_MODELS_DIR = "faasflow_models"  # in a zip function's models layer, on the import path


class ModelNotFoundError(FaasflowError):
    """No model folder or file under that name or path."""


@dataclass(frozen=True)
class ModelFiles:
    name: str
    folder: Path
    onnx: Path
    tokenizer: Path | None
    manifest: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def model_roots() -> list[Path]:
    """Folders searched for a model by name: ``$FAASFLOW_MODEL_DIR`` (``os.pathsep``
    separated), a models layer's ``faasflow_models`` on the import path (a zip function on
    Lambda, or its emulator), then ``.faasflow/models`` in the current directory and in the
    checkout this package runs from."""
    roots = [Path(p) for p in os.environ.get(MODEL_DIR_ENV, "").split(os.pathsep) if p]
    roots += [Path(entry) / LAYER_MODELS_DIR for entry in sys.path
              if entry and os.path.isdir(os.path.join(entry, LAYER_MODELS_DIR))]
    roots.append(Path.cwd() / CACHE_DIR)
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        roots.append(checkout / CACHE_DIR)
    return list(dict.fromkeys(roots))


def resolve_model(model: str | os.PathLike[str]) -> ModelFiles:
    """The files of ``model``: an ``.onnx`` file, a model folder, or a model name."""
    path = Path(model).expanduser()
    if path.is_file():
        folder, onnx = path.parent, path
    elif path.is_dir():
        folder, onnx = path, path / MODEL_FILE
    else:
        found = next((root / str(model) for root in model_roots() if (root / str(model) / MODEL_FILE).is_file()), None)
        if found is None:
            searched = ", ".join(str(r) for r in model_roots())
            hint = " (run `make model` to export it)" if str(model) == DEFAULT_MODEL else ""
            raise ModelNotFoundError(f"no ONNX model {str(model)!r}{hint}: not a file or folder, "
                                     f"and not in the model cache ({searched})")
        folder, onnx = found, found / MODEL_FILE
    if not onnx.is_file():
        raise ModelNotFoundError(f"model folder {folder} has no {MODEL_FILE}")
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    tokenizer = folder / TOKENIZER_FILE
    return ModelFiles(
        name=str(manifest.get("name") or (folder.name if onnx.name == MODEL_FILE else onnx.stem)),
        folder=folder,
        onnx=onnx,
        tokenizer=tokenizer if tokenizer.is_file() else None,
        manifest=MappingProxyType(manifest),
    )
