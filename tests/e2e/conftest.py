"""Whole-system tests: real processes, real sockets (loopback only), real files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chargegrid.orchestrate import free_port

ROOT = Path(__file__).resolve().parents[2]
DUNDEE_FILES = ("cpdata.csv", "charge-sessions-june-sept.csv")


def chargegrid(
    args: Sequence[str], data_dir: Path, *, timeout_s: float = 300.0, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, with its state in ``data_dir``."""
    return subprocess.run(
        [sys.executable, "-m", "chargegrid.cli", *args],
        cwd=ROOT,
        env={**os.environ, "CHARGEGRID_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def start_chargegrid(
    args: Sequence[str], data_dir: Path, log: Path, **env: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "chargegrid.cli", *args],
        cwd=ROOT,
        env={**os.environ, "CHARGEGRID_DATA_DIR": str(data_dir), **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@dataclass(frozen=True)
class DemoPorts:
    """Free loopback ports for one demo run, so it never meets another process's servers."""

    dashboard: int
    csms: int
    bpp: int
    registry: int

    @classmethod
    def free(cls) -> DemoPorts:
        return cls(*(free_port("127.0.0.1") for _ in range(4)))

    @property
    def children(self) -> tuple[int, int, int]:
        """The ports the demo's child servers listen on (dashboard, BPP, registry)."""
        return self.dashboard, self.bpp, self.registry


def start_demo(
    duration_s: float, data_dir: Path, log: Path, ports: DemoPorts
) -> subprocess.Popen[bytes]:
    """``chargegrid demo --duration`` on ``ports``, its output in ``log``."""
    return start_chargegrid(
        ["demo", "--duration", f"{duration_s:g}"],
        data_dir,
        log,
        CHARGEGRID_DASHBOARD_PORT=str(ports.dashboard),
        CHARGEGRID_CSMS_PORT=str(ports.csms),
        CHARGEGRID_BPP_PORT=str(ports.bpp),
        CHARGEGRID_BPP_URI=f"http://127.0.0.1:{ports.bpp}",
        CHARGEGRID_REGISTRY_PORT=str(ports.registry),
        CHARGEGRID_REGISTRY_URL=f"http://127.0.0.1:{ports.registry}",
    )


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback ``port``."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
