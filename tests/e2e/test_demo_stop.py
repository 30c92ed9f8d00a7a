"""``chargegrid demo`` stopped by SIGTERM (``kill``, ``timeout``, a service manager) stops its
child servers too, as Ctrl-C does: they run in sessions of their own, and were once left running
and holding their ports after ``timeout make demo``."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from chargegrid.orchestrate import wait_for_port
from tests.e2e.conftest import DemoPorts, listening, start_demo

pytestmark = pytest.mark.slow


def test_sigterm_stops_the_demo_and_every_child_server(tmp_path: Path) -> None:
    ports = DemoPorts.free()
    log = tmp_path / "demo.log"
    demo = start_demo(120, tmp_path / "var", log, ports)
    try:
        for port in ports.children:
            wait_for_port("127.0.0.1", port, 60.0)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=150) == 0, log.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
    assert "stopped." in log.read_text()
    assert not [port for port in ports.children if listening(port)], log.read_text()
