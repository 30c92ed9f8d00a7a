"""The Live page in headless Chromium while the whole system runs: the demo, and a real replay."""

from __future__ import annotations

import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chargegrid.live import read_snapshot
from chargegrid.orchestrate import free_port, wait_for_port
from chargegrid.settings import load_settings
from tests.browser import chrome_options
from tests.e2e.conftest import DemoPorts, listening, start_chargegrid, start_demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POWER_POINTS = """
const graph = document.querySelector('#live-power .js-plotly-plot');
if (!graph || !graph.data) { return 0; }
return graph.data.reduce((n, t) => n + t.x.length, 0);
"""


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver

    driver = webdriver.Chrome(options=chrome_options())
    try:
        yield driver
    finally:
        driver.quit()


def power_points(driver: Any) -> int:
    return int(driver.execute_script(POWER_POINTS) or 0)


def wait_for_power(driver: Any, url: str, deadline: float) -> int:
    """Load the page and poll until the power chart shows points; returns how many."""
    driver.get(url)
    while time.monotonic() < deadline:
        points = power_points(driver)
        if points:
            return points
        time.sleep(0.5)
    return 0


def test_demo_shows_live_power_within_30_seconds(browser: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    ports = DemoPorts.free()
    port = ports.dashboard
    log = tmp_path / "demo.log"
    started = time.monotonic()
    demo = start_demo(90, data_dir, log, ports)
    try:
        wait_for_port("127.0.0.1", port, 30.0)
        url = f"http://127.0.0.1:{port}/"
        assert urllib.request.urlopen(url, timeout=10).status == 200
        points = wait_for_power(browser, url, started + 30.0)
        assert points > 0, f"no live power 30 s after start:\n{log.read_text()}"
        snapshot = read_snapshot(load_settings(data_dir=data_dir / "demo").live_dir)
        assert snapshot is not None and sum(c.power_w for c in snapshot.connectors) > 0
        deadline = time.monotonic() + 60.0  # demo drivers order through the Beckn network
        while log.read_text().count("beckn order ") < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert log.read_text().count("beckn order ") == 3, log.read_text()
        # its drivers watch their energy arrive: on_status every second (demo settings)
        assert re.search(r"\b[1-9]\d* live on_status", log.read_text()), log.read_text()
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.wait(timeout=120) == 0, log.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
    assert "stopped." in log.read_text()
    assert not [p for p in ports.children if listening(p)]  # the children are gone too


@pytest.mark.shared
def test_live_page_during_a_dundee_replay(browser: Any, tmp_path: Path, shared_data: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port("127.0.0.1")
    replay = start_chargegrid(
        [
            "replay",
            "dundee",
            str(shared_data / "dundee" / "cpdata.csv"),
            "--limit",
            "40",
            "--speed",
            "300",  # long enough to outlast a slow first page load
            "--embedded",
        ],
        data_dir,
        tmp_path / "replay.log",
    )
    dashboard = start_chargegrid(
        ["serve", "dashboard", "--port", str(port)], data_dir, tmp_path / "dashboard.log"
    )
    try:
        wait_for_port("127.0.0.1", port, 30.0)
        points = wait_for_power(browser, f"http://127.0.0.1:{port}/", time.monotonic() + 40.0)
        assert replay.poll() is None, "the page was checked during the replay"
        assert points > 0, (tmp_path / "replay.log").read_text()
        tiles = browser.find_elements("css selector", "#live-board .live-tile")
        assert tiles, "the status board lists the replayed connectors"
        assert replay.wait(timeout=120) == 0, (tmp_path / "replay.log").read_text()
    finally:
        for proc in (replay, dashboard):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
