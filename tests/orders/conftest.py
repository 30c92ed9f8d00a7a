"""Fixtures for the BPP tests: the ../shared/beckn folder (skips when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED


@pytest.fixture
def beckn_dir() -> Path:
    """``../shared/beckn``; the test skips cleanly when it is absent."""
    path = SHARED / "beckn"
    if not path.is_dir():
        pytest.skip("../shared/beckn not present")
    return path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
