"""Jina's Client behaviour: an unreachable gateway is a ConnectionError."""

from __future__ import annotations

import pytest

from faasflow import Client, DocumentArray
from faasflow.client import GatewayConnectionError, GatewayUnavailable
from tests.support.conformance import free_port


def test_unreachable_gateway_is_a_connection_error():
    client = Client(host="127.0.0.1", protocol="http", port=free_port())
    with pytest.raises(ConnectionError) as info:
        client.post("/blah", inputs=DocumentArray.empty(3))
    assert isinstance(info.value, GatewayConnectionError) and isinstance(info.value, GatewayUnavailable)


def test_client_port_without_protocol_is_http():
    assert Client(host="127.0.0.1", port=1234).url == "http://127.0.0.1:1234"
