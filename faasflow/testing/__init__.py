"""Helpers for testing faasflow apps against a local AWS emulator, and the pytest plugin's types.

The names load on first use (PEP 562): pytest imports ``faasflow.testing.plugin`` in every
run where faasflow is installed, and that must not pay for the emulator's or the
deployment's modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faasflow.lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
