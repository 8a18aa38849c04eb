"""The shared storage suite (tests/storage/storage_suite.py) on the local-folder backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from faasflow.storage.local import LocalStorage
from tests.support.storage_suite import *  # noqa: F403
from tests.support.storage_suite import Backend


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    root = tmp_path / "store"
    return Backend(LocalStorage(root), str(root), reopen=lambda: LocalStorage(root))
