"""Ready-made executors. Each is imported on first use, so ``import faasflow.executors``
costs nothing and their heavy dependencies (ONNX Runtime, tokenizers) load only when an
executor is actually used: ``from faasflow.executors import OnnxEncoder``.

* ``OnnxEncoder``: embeddings from an ONNX model;
* ``VectorIndexer``: a durable shard of an exact vector index (upsert, delete, search)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "OnnxEncoder": "faasflow.executors.onnx_encoder",
    "VectorIndexer": "faasflow.executors.vector_indexer",
}

# Their endpoints' parameter models, by name (``@requests(parameters=SEARCH_PARAMETERS)``):
# named, not imported, so that a function's cold start never loads pydantic.
SEARCH_PARAMETERS = "faasflow.executors.parameters:SearchParameters"
ENCODE_PARAMETERS = "faasflow.executors.parameters:EncodeParameters"

__all__ = sorted([*_LAZY, "SEARCH_PARAMETERS", "ENCODE_PARAMETERS"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'faasflow.executors' has no attribute {name!r}")
    return getattr(import_module(module), name)
