"""OnnxEncoder: embeddings from an ONNX model run by ONNX Runtime, for text or tensors.

Text mode tokenizes ``doc.text`` with the model's ``tokenizer.json`` (Hugging Face
``tokenizers``), truncates to ``max_length``, pools the token embeddings (mean over the
attention mask, or the first token) and L2-normalizes, as sentence-transformers does.
Tensor mode feeds ``doc.tensor`` (same-shaped tensors batched together) to the model's
input. Either way the result goes to ``doc.embedding``; docs without the input are left
as they are.

The model loads once per process, when the executor is made (a Lambda container's init
phase, not its first request), on the device asked for: ``'cpu'``, ``'cuda'`` (an error
if CUDA cannot run it) or ``'auto'`` (CUDA when it can, else the CPU). The provider that
actually runs it is logged and reported by ``status()`` (in ``GET /status`` and the GPU
server's ``GET /ping``). ``$FAASFLOW_ONNX_DEVICE`` sets the default device: the GPU image
sets ``cuda`` so that a GPU deployment never runs on the CPU unnoticed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from faasflow.array import DocumentArray
from faasflow.document import Document
from faasflow.errors import BadRequest
from faasflow.executor import Executor, requests
from faasflow.executors import ENCODE_PARAMETERS, onnx_sessions
from faasflow.executors.model_files import DEFAULT_MODEL, ModelFiles, resolve_model
from faasflow.extras import require

MODES = ("text", "tensor")
POOLINGS = ("mean", "cls", "none")
DEVICE_ENV = "FAASFLOW_ONNX_DEVICE"
TEXT_INPUTS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32}

_tokenizers: dict[tuple[str, int], Any] = {}
_tokenizer_lock = threading.Lock()


def load_tokenizer(path: str, max_length: int) -> Any:
    """The process's tokenizer for this file: truncating to ``max_length``, padding each
    batch to its longest member."""
    key = (path, max_length)
    tokenizer = _tokenizers.get(key)
    if tokenizer is None:
        with _tokenizer_lock:
            tokenizer = _tokenizers.get(key)
            if tokenizer is None:
                from faasflow.extras import needs

                with needs("OnnxEncoder", "onnx", ("tokenizers",)):
                    from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(path)
                padding = tokenizer.padding or {}
                tokenizer.enable_truncation(max_length)
                tokenizer.enable_padding(pad_id=padding.get("pad_id", 0), pad_token=padding.get("pad_token", "[PAD]"),
                                         pad_type_id=padding.get("pad_type_id", 0))
                _tokenizers[key] = tokenizer
    return tokenizer


def pool(hidden: np.ndarray, mask: np.ndarray | None, pooling: str) -> np.ndarray:
    """One row per item from a model output: 2-D outputs as they are, 3-D ones (items x
    tokens x dims) by the mean over unmasked tokens, by the first token, or flattened."""
    if hidden.ndim == 2:
        return hidden
    if pooling == "none":
        return hidden.reshape(len(hidden), -1)
    if hidden.ndim != 3:
        raise ValueError(f"cannot pool a model output of shape {hidden.shape}: expected 2-D or 3-D")
    if pooling == "cls":
        return hidden[:, 0]
    if mask is None:
        return hidden.mean(axis=1)
    weights = mask.astype(hidden.dtype)
    summed = np.matmul(weights[:, None, :], hidden)[:, 0]  # one BLAS call for the whole batch
    return summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)


def l2_normalize(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


class OnnxEncoder(Executor):
    """Writes ``doc.embedding`` from an ONNX model, on every endpoint.

    ``model``: a model name in the model cache (default ``all-MiniLM-L6-v2``), a model
    folder or an ``.onnx`` file. ``mode``: ``'text'`` or ``'tensor'``. ``max_length``,
    ``pooling`` (``'mean'``, ``'cls'``, ``'none'``) and ``normalize`` default to the
    model's manifest (else 512, mean, no normalization). ``batch_size``: docs per model
    run (a request's ``parameters['batch_size']`` overrides it). ``device``: ``'auto'``,
    ``'cpu'`` or ``'cuda'``. ``threads``: ONNX Runtime's intra-op threads (its default:
    one per core). ``input_name``/``output_name``: which model input takes the tensors
    and which output is the embedding (default: the first of each).
    """

    # On AWS: a zip function gets ONNX Runtime and the model as layers (python3.12+), or package: image.
    needs_onnx_runtime = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        mode: str = "text",
        max_length: int | None = None,
        pooling: str | None = None,
        normalize: bool | None = None,
        batch_size: int = 32,
        device: str | None = None,
        threads: int | None = None,
        input_name: str | None = None,
        output_name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        require("OnnxEncoder", "onnx")  # before the model is looked for: the extra is the first thing missing
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if pooling is not None and pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.files: ModelFiles = resolve_model(model)
        manifest = self.files.manifest
        self.mode = mode
        self.max_length = int(max_length or manifest.get("max_length") or 512)
        self.pooling = pooling or manifest.get("pooling") or "mean"
        self.normalize = bool(manifest.get("normalize", False) if normalize is None else normalize)
        self.batch_size = batch_size
        self.device = device or os.environ.get(DEVICE_ENV) or "auto"
        self.model = onnx_sessions.load(self.files.onnx, self.device, threads)
        self.output_name = output_name or manifest.get("output") or self.model.outputs[0]
        if self.output_name not in self.model.outputs:
            raise ValueError(f"model {self.files.name!r} has no output {self.output_name!r}; "
                             f"it has {', '.join(self.model.outputs)}")
        self.tokenizer = None
        if mode == "text":
            if self.files.tokenizer is None:
                raise ValueError(f"mode='text' needs a tokenizer.json beside model {self.files.onnx}")
            unknown = sorted(set(self.model.inputs) - set(TEXT_INPUTS))
            if unknown or "input_ids" not in self.model.inputs:
                raise ValueError(f"mode='text' feeds {', '.join(TEXT_INPUTS)}; model {self.files.name!r} "
                                 f"takes {', '.join(self.model.inputs)}")
            self.tokenizer = load_tokenizer(str(self.files.tokenizer), self.max_length)
            self.input_name = "input_ids"
        else:
            self.input_name = input_name or next(iter(self.model.inputs))
            if self.input_name not in self.model.inputs:
                raise ValueError(f"model {self.files.name!r} has no input {self.input_name!r}; "
                                 f"it has {', '.join(self.model.inputs)}")
        self.logger.info("%s: model %s on %s (device=%r, mode=%s, batch_size=%d)", self.runtime_args.name,
                         self.files.name, self.model.provider, self.device, mode, batch_size)

    @classmethod
    def image_models(cls, uses_with: Mapping[str, Any]) -> list[str]:
        """The model a container image of this executor bakes in (``faasflow build``)."""
        return [str(uses_with.get("model", DEFAULT_MODEL))]

    @requests(parameters=ENCODE_PARAMETERS)
    def encode(self, docs: DocumentArray, parameters: dict | None = None, **kwargs: Any) -> None:
        """Embed every doc that has the input (text or tensor), in batches."""
        batch_size = parse_batch_size((parameters or {}).get("batch_size"), self.batch_size)
        if self.mode == "text":
            targets = [d for d in docs if d.text is not None]
            if targets:
                self._assign(docs, targets, self.embed_texts([d.text for d in targets], batch_size))
        else:
            targets = [d for d in docs if d.tensor is not None]
            if targets:
                self._assign(docs, targets, self.embed_tensors([d.tensor for d in targets], batch_size))

    def _assign(self, docs: DocumentArray, targets: list[Document], rows: np.ndarray) -> None:
        # A whole array gets one stacked matrix (the next executor searches it without
        # stacking again); a subset, one per row.
        if len(targets) == len(docs):
            docs.embeddings = rows
        else:
            DocumentArray._wrap(targets).embeddings = rows

    def embed_texts(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Embeddings of ``texts``, one row each, in batches of ``batch_size``."""
        size = batch_size or self.batch_size
        parts = [self._run_texts(texts[start : start + size]) for start in range(0, len(texts), size)]
        return np.concatenate(parts) if parts else np.empty((0, 0), np.float32)

    def _run_texts(self, texts: Sequence[str]) -> np.ndarray:
        assert self.tokenizer is not None
        encodings = self.tokenizer.encode_batch(list(texts))
        feeds = {
            name: np.array([getattr(e, attribute) for e in encodings], dtype=np.int64)
            for name, attribute in TEXT_INPUTS.items()
            if name in self.model.inputs
        }
        mask = feeds.get("attention_mask")
        if mask is None:
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = self.model.session.run([self.output_name], feeds)
        return self._finish(pool(hidden, mask, self.pooling))

    def embed_tensors(self, tensors: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        """Model outputs for ``tensors``, one row each; tensors of one shape share a batch."""
        size = batch_size or self.batch_size
        dtype = _NUMPY_TYPES.get(self.model.inputs[self.input_name], np.float32)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for position, tensor in enumerate(tensors):
            by_shape.setdefault(np.shape(tensor), []).append(position)
        rows: list[np.ndarray | None] = [None] * len(tensors)
        for positions in by_shape.values():
            for start in range(0, len(positions), size):
                chunk = positions[start : start + size]
                batch = np.stack([np.asarray(tensors[p], dtype=dtype) for p in chunk])
                (out,) = self.model.session.run([self.output_name], {self.input_name: batch})
                for p, row in zip(chunk, self._finish(pool(out, None, self.pooling))):
                    rows[p] = row
        return np.stack(rows) if rows else np.empty((0, 0), np.float32)

    def _finish(self, rows: np.ndarray) -> np.ndarray:
        rows = rows.astype(np.float32, copy=False)
        return l2_normalize(rows) if self.normalize else rows

    def status(self) -> dict[str, Any]:
        """What ``GET /status`` shows of this instance: the model and the provider running it."""
        return {
            "model": self.files.name,
            "device": self.device,
            "provider": self.model.provider,
            "mode": self.mode,
            "load_seconds": round(self.model.load_seconds, 3),
        }


def parse_batch_size(value: Any, default: int) -> int:
    """A ``batch_size`` parameter: a positive integer; absent or null means ``default``."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"batch_size must be a positive integer, like 32; got {value!r}", field="batch_size")
    return value
