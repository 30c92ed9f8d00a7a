"""``chargegrid demo`` stopped by SIGTERM (``kill``, ``timeout``, a service manager) stops its
child servers too, as Ctrl-C does: they run in sessions of their own, and were once left running
and holding their ports after ``timeout make demo``."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from chargegrid.orchestrate import free_port, wait_for_port
from tests.e2e.conftest import start_chargegrid

pytestmark = pytest.mark.slow


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_stops_the_demo_and_every_child_server(tmp_path: Path) -> None:
    port, csms_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    bpp_port, registry_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    log = tmp_path / "demo.log"
    demo = start_chargegrid(
        ["demo", "--duration", "120"],
        tmp_path / "var",
        log,
        CHARGEGRID_DASHBOARD_PORT=str(port),
        CHARGEGRID_CSMS_PORT=str(csms_port),
        CHARGEGRID_BPP_PORT=str(bpp_port),
        CHARGEGRID_BPP_URI=f"http://127.0.0.1:{bpp_port}",
        CHARGEGRID_REGISTRY_PORT=str(registry_port),
        CHARGEGRID_REGISTRY_URL=f"http://127.0.0.1:{registry_port}",
    )
    try:
        for child_port in (port, bpp_port, registry_port):
            wait_for_port("127.0.0.1", child_port, 60.0)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=150) == 0, log.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
    assert "stopped." in log.read_text()
    assert not [p for p in (port, bpp_port, registry_port) if _listening(p)], log.read_text()
