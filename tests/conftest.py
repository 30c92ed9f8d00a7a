"""Shared fixtures: an isolated data dir per test, and the path to ../shared when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargegrid.settings import Settings, load_settings

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "var")


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; the test skips cleanly when it is absent."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip("../shared/data not present")
    return data
