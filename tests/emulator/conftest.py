"""One MiniStack emulator per test session, from the project's own ``.tools`` envs.

The tool environments are created here when missing (first run: about a minute).
If they cannot be (no Python 3.11, no package index) the emulator tests are
skipped with the reason; any other failure to start the emulator is an error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from faasflow.deploy.tools import ToolsUnavailable, ensure_tools
from faasflow.testing import MiniStack


@pytest.fixture(scope="session")
def emulator_tools() -> None:
    """Create ``.tools/sam`` and ``.tools/ministack`` once; skip (loudly) if impossible."""
    try:
        ensure_tools()
    except ToolsUnavailable as exc:
        pytest.skip(f"emulator tool environments unavailable: {exc}")


@pytest.fixture(scope="session")
def ministack(emulator_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniStack]:
    """The session's emulator; stopped at the end even when tests fail."""
    emulator = MiniStack(log_dir=tmp_path_factory.mktemp("ministack"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def fresh_ministack(ministack: MiniStack) -> MiniStack:
    """The session's emulator, reset to empty before the test."""
    ministack.reset()
    return ministack
