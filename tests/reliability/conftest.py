"""Claim checks (payloads too large to travel inline) go to a folder of each test's own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def payload_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAASFLOW_PAYLOAD_URL", str(tmp_path / "payloads"))
