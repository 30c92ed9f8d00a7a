"""Whole-system tests: real processes, real sockets (loopback only), real files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

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
