"""Headless Chromium for ``dash_duo`` on an offline, root, GPU-less machine.

Any conftest that runs Dash browser tests answers the dash plugin's hook with these options::

    def pytest_setup_options():
        return chrome_options()
"""

from __future__ import annotations

import shutil
from typing import Any

CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--window-size=1400,1100",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_available() -> bool:
    """True when both chromium and chromedriver are on PATH."""
    return chromium_path() is not None and shutil.which("chromedriver") is not None


def chrome_options() -> Any:
    """Selenium Chrome options for Debian's chromium, headless."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    binary = chromium_path()
    if binary is not None:
        options.binary_location = binary
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    return options
