"""Child processes of the embedded set-up (pipeline, central system, dashboard) and their ends.

Children are ``python -m chargegrid.cli ...`` with the same data dir; their output goes to
``<data_dir>/run/<name>.log``. Stopping sends SIGINT (clean shutdown), then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from chargegrid.errors import ChargegridError
from chargegrid.settings import Settings


class ChildFailed(ChargegridError):
    """A child process exited with an error or did not come up in time."""


@dataclass
class Child:
    name: str
    args: list[str]
    settings: Settings
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.settings.run_dir / f"{self.name}.log"

    def start(self) -> Child:
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.extra_env,
            "CHARGEGRID_DATA_DIR": str(self.settings.data_dir.resolve()),
            "CHARGEGRID_HOST": self.settings.host,
            "PYTHONUNBUFFERED": "1",
        }
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chargegrid.cli", *self.args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, not the children
        )
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired as exc:
            msg = f"{self.name} did not finish within {timeout_s:.0f} s (log: {self.log_path})"
            raise ChildFailed(msg) from exc

    def stop(self, grace_s: float = 15.0) -> int | None:
        """Stop cleanly if possible; returns the exit code."""
        if self.proc is None:
            return None
        for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child is not None and not child.running():
            msg = f"{child.name} exited early:\n{child.tail()}"
            raise ChildFailed(msg)
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    msg = f"nothing listening on {host}:{port} after {timeout_s:.0f} s"
    raise ChildFailed(msg)


def start_pipeline(settings: Settings, extra_env: dict[str, str] | None = None) -> Child:
    """The stream as a child, running until told to drain."""
    settings.drain_flag.unlink(missing_ok=True)
    return Child("pipeline", ["pipeline", "run"], settings, extra_env or {}).start()


def drain_pipeline(settings: Settings, pipeline: Child, timeout_s: float = 600.0) -> None:
    """Ask the pipeline to stop once the log is fully consumed, and wait for it."""
    settings.drain_flag.parent.mkdir(parents=True, exist_ok=True)
    settings.drain_flag.touch()
    try:
        code = pipeline.wait(timeout_s)
    finally:
        settings.drain_flag.unlink(missing_ok=True)
    if code != 0:
        msg = f"pipeline exited with {code}:\n{pipeline.tail()}"
        raise ChildFailed(msg)


def raise_fd_limit(wanted: int = 65_536) -> int:
    """Lift this process's open-file limit towards ``wanted`` (capped by the hard limit).

    A fleet of thousands of simulated chargers holds one socket each (twice with an in-process
    central system); the usual soft limit of 1,024 would refuse connections. Returns the new limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft
