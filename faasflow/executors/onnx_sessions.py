"""ONNX Runtime sessions: one per model and device per process, on the provider asked for.

A Lambda container (or an embedded Flow's shards) loads a model once and shares the
session: ``InferenceSession.run`` is thread-safe. ONNX Runtime itself falls back to the
CPU without an error when the CUDA provider cannot load (it only warns); here a session
that was required on CUDA and does not run on it is an error, never a slow surprise.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faasflow.errors import FaasflowError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")

logger = logging.getLogger("faasflow.onnx")


class ProviderUnavailableError(FaasflowError):
    """The execution provider that was required cannot run the model here."""


@dataclass(frozen=True)
class LoadedModel:
    """A session plus what callers need to know about it without asking it again."""

    path: str
    session: Any
    inputs: dict[str, str]  # name -> ONNX type, e.g. "tensor(int64)"
    outputs: tuple[str, ...]
    device: str  # what was asked for
    provider: str  # what actually runs the model
    load_seconds: float


def choose_providers(device: str, available: Sequence[str]) -> list[str]:
    """The providers to ask ONNX Runtime for, best first."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]  # CPU only for the odd operator CUDA lacks, never the whole model
    if device == "cuda":
        raise ProviderUnavailableError(
            f"device='cuda' was required but onnxruntime offers no {CUDA} here "
            f"(available: {', '.join(available) or 'none'}); install onnxruntime-gpu on a machine with an "
            "NVIDIA GPU and CUDA, or ask for device='auto' to accept the CPU"
        )
    return [CPU]


_sessions: dict[tuple[str, str, int | None], LoadedModel] = {}
_lock = threading.Lock()


def load(path: Path, device: str = "auto", threads: int | None = None) -> LoadedModel:
    """The process's session for this model file and device, created on first use."""
    key = (str(Path(path).resolve()), device, threads)
    loaded = _sessions.get(key)
    if loaded is not None:
        return loaded
    with _lock:
        loaded = _sessions.get(key)
        if loaded is None:
            loaded = _sessions[key] = _create(key[0], device, threads)
    return loaded


def _create(path: str, device: str, threads: int | None) -> LoadedModel:
    from faasflow.extras import needs

    with needs("OnnxEncoder", "onnx", ("onnxruntime",)):  # OnnxEncoder's sessions: what a user made
        import onnxruntime

    providers = choose_providers(device, onnxruntime.get_available_providers())
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    started = time.perf_counter()
    session = onnxruntime.InferenceSession(path, sess_options=options, providers=providers)
    seconds = time.perf_counter() - started
    active = session.get_providers()[0]
    if providers[0] == CUDA and active != CUDA:
        message = (f"{CUDA} is installed but did not start for {path} (the session runs on {active}); "
                   "check the NVIDIA driver, CUDA and cuDNN versions onnxruntime-gpu needs")
        if device == "cuda":
            raise ProviderUnavailableError(f"device='cuda' was required: {message}")
        logger.warning("%s; running on the CPU as device='auto' allows", message)
    logger.info("loaded %s in %.2f s on %s (device=%r)", path, seconds, active, device)
    return LoadedModel(
        path=path,
        session=session,
        inputs={i.name: i.type for i in session.get_inputs()},
        outputs=tuple(o.name for o in session.get_outputs()),
        device=device,
        provider=active,
        load_seconds=seconds,
    )


def clear() -> None:
    """Forget every session (tests; a process normally keeps its sessions)."""
    with _lock:
        _sessions.clear()
