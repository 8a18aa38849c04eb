"""Helpers for testing faasflow apps against a local AWS emulator, and the pytest plugin's types.

The names load on first use (PEP 562): pytest imports ``faasflow.testing.plugin`` in every
run where faasflow is installed, and that must not pay for the emulator's or the
deployment's modules.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faasflow.testing.batch_runs import BatchRunError
    from faasflow.testing.deployed import DeployedFlow, DeploymentError
    from faasflow.testing.emulators import (
        Emulator,
        EndpointEmulator,
        LocalStackContainer,
        MiniStackEmulator,
        RealAws,
        ResetUnsupported,
    )
    from faasflow.testing.ministack import MiniStack, MiniStackError

_EXPORTS: dict[str, str] = {
    "BatchRunError": "faasflow.testing.batch_runs",
    "DeployedFlow": "faasflow.testing.deployed",
    "DeploymentError": "faasflow.testing.deployed",
    "Emulator": "faasflow.testing.emulators",
    "EndpointEmulator": "faasflow.testing.emulators",
    "LocalStackContainer": "faasflow.testing.emulators",
    "MiniStack": "faasflow.testing.ministack",
    "MiniStackEmulator": "faasflow.testing.emulators",
    "MiniStackError": "faasflow.testing.ministack",
    "RealAws": "faasflow.testing.emulators",
    "ResetUnsupported": "faasflow.testing.emulators",
}

__all__ = [
    "BatchRunError",
    "DeployedFlow",
    "DeploymentError",
    "Emulator",
    "EndpointEmulator",
    "LocalStackContainer",
    "MiniStack",
    "MiniStackEmulator",
    "MiniStackError",
    "RealAws",
    "ResetUnsupported",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'faasflow.testing' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
