"""The payload store a package's tests share: where documents over a route's inline limit
go as claim checks when a Flow runs on the simulated state machine. A conftest takes it with
``from tests.support.payloads import payload_store  # noqa: F401``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def payload_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One folder for the session's claim checks, named by ``FAASFLOW_PAYLOAD_URL``."""
    path = tmp_path_factory.mktemp("payloads")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAASFLOW_PAYLOAD_URL", str(path))
        yield path
