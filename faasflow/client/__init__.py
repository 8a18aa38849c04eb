"""The HTTP Client of a served or deployed Flow (httpx, imported when a Client is made)."""

from faasflow.client.client import AsyncClient, Client
from faasflow.client.errors import (
    GatewayBadInputError,
    GatewayBadRequestError,
    GatewayConnectionError,
    GatewayError,
    GatewayFlowError,
    GatewayUnavailable,
    GatewayUnknownEndpointError,
    GatewayUnknownTargetError,
)
from faasflow.client.retry import Backoff

__all__ = [
    "AsyncClient",
    "Backoff",
    "Client",
    "GatewayBadInputError",
    "GatewayBadRequestError",
    "GatewayError",
    "GatewayFlowError",
    "GatewayConnectionError",
    "GatewayUnavailable",
    "GatewayUnknownEndpointError",
    "GatewayUnknownTargetError",
]
