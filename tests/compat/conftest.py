"""Jina-compatibility tests post through a Flow in every mode it runs in: the ``flow_mode``
fixture is ``embedded``, ``served`` and ``simulated`` in turn, and ``run_flow`` /
``open_flow`` start a Flow for it (``tests.support.flow_modes``)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from faasflow import Flow
from tests.support import flow_modes
from tests.support.payloads import payload_store  # noqa: F401  (session-wide, autouse)


@pytest.fixture(params=flow_modes.MODES)
def flow_mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def open_flow(flow_mode: str, tmp_path: Path) -> Callable[[Flow], AbstractContextManager[Any]]:
    """``with open_flow(flow) as poster: poster.post(...)``, in this test's mode."""
    return lambda flow: flow_modes.open_flow(flow, flow_mode, tmp_path)


@pytest.fixture
def run_flow(flow_mode: str, tmp_path: Path) -> Callable[..., Any]:
    """``run_flow(flow, on, inputs, parameters=None, **post_kwargs)``: one post, in this
    test's mode; returns what ``post`` returns."""

    def run(flow: Flow, on: str, inputs: Any = None, parameters: dict[str, Any] | None = None,
            **post_kwargs: Any) -> Any:
        return flow_modes.run_flow(flow, flow_mode, tmp_path, on, inputs, parameters, **post_kwargs)

    return run
