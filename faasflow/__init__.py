"""faasflow: Jina-style Executors and Flows that run in-process, over HTTP, and serverless on AWS.

The public names are resolved on first use (PEP 562), so that ``import faasflow`` (and with it
the CLI and a Lambda cold start) does not pay for numpy until a Document is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faasflow.lazy import lazy_exports

if TYPE_CHECKING:
    from faasflow.array import DocumentArray
    from faasflow.client import Client
    from faasflow.document import Document, NamedScore
    from faasflow.errors import (
        BadInputError,
        BadRequest,
        FaasflowError,
        FlowConfigError,
        FlowError,
        UnknownEndpointError,
    )
    from faasflow.executor import Executor, requests
    from faasflow.flow import AsyncFlow, Flow

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "AsyncFlow": "faasflow.flow",
    "BadInputError": "faasflow.errors",
    "BadRequest": "faasflow.errors",
    "Client": "faasflow.client",  # imports httpx only when a Client is made
    "Document": "faasflow.document",
    "DocumentArray": "faasflow.array",
    "Executor": "faasflow.executor",
    "FaasflowError": "faasflow.errors",
    "Flow": "faasflow.flow",
    "FlowConfigError": "faasflow.errors",
    "FlowError": "faasflow.errors",
    "NamedScore": "faasflow.document",
    "UnknownEndpointError": "faasflow.errors",
    "requests": "faasflow.executor",
}

__all__ = [
    "AsyncFlow",
    "BadInputError",
    "BadRequest",
    "Client",
    "Document",
    "DocumentArray",
    "Executor",
    "FaasflowError",
    "Flow",
    "FlowConfigError",
    "FlowError",
    "NamedScore",
    "UnknownEndpointError",
    "__version__",
    "requests",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
