"""Shared fixtures: an isolated data dir per test, the path to ../shared when present, and
headless Chromium for browser tests (``@pytest.mark.browser``, skipped without chromium and
chromedriver). The dash testing plugin asks for webdriver options through ``pytest_setup_options``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chargegrid.settings import Settings, load_settings
from tests.browser import browser_available, chrome_options

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


def pytest_setup_options() -> Any:
    return chrome_options()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser") and not browser_available():
        pytest.skip("chromium and chromedriver are needed for browser tests")
