"""faasflow: Jina-style Executors and Flows that run in-process, over HTTP, and serverless on AWS."""

from faasflow.array import DocumentArray
from faasflow.client import Client  # imports httpx only when a Client is made
from faasflow.document import Document, NamedScore
from faasflow.errors import (
    BadInputError,
    FaasflowError,
    FlowConfigError,
    FlowError,
    UnknownEndpointError,
)
from faasflow.executor import Executor, requests
from faasflow.flow import Flow

__version__ = "0.1.0"

__all__ = [
    "BadInputError",
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
