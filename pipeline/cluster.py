"""Running the stream as a Bytewax cluster: several processes, one worker each.

A cluster is ``addresses`` (``host:port`` of every process, the same list in the same order on
every process) and this process's index in it (Bytewax's ``-i/-a``). Bytewax assigns each source
partition (one per topic and log partition) to one worker and routes the step's state by log
partition, so partitions spread over the processes; the lake sink has one partition per table and
the live sink one in all, each owned by exactly one worker, so no two processes ever write the
same file.

Recovery partitions (Bytewax's rule: the complete set must be reachable by the cluster, each one
by at least one worker). Process 0 creates them in ``<data_dir>/recovery`` on first start and
prepares the lake and catalog; every other process looks in its own, normally empty,
``<data_dir>/recovery-<i>``: a sibling, never inside process 0's directory, because process 0
creates its partitions only when ``recovery`` does not exist yet. An operator may move partition
files into another process's directory to spread disk load; Bytewax finds them wherever they
are. Hence one data directory may be shared by every process of a machine, and a cluster may
later resume with fewer or more processes.

:class:`LocalCluster` starts a cluster of ``chargegrid pipeline run`` subprocesses on loopback
(tests, and trying a cluster on one machine) and always kills what it started.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from chargegrid.errors import ChargegridError

PRIMARY = 0


class ClusterConfigError(ChargegridError):
    """``--process-id`` / ``--addresses`` do not describe a cluster this process can join."""


class ClusterFailed(ChargegridError):
    """A process of a local cluster exited with an error or did not finish in time."""


def _check_address(address: str) -> str:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        msg = f"cluster address {address!r} is not host:port"
        raise ClusterConfigError(msg)
    return f"{host}:{int(port)}"


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """This process's place in the cluster; one process and no addresses = no cluster."""

    process_id: int = PRIMARY
    addresses: tuple[str, ...] = ()

    @classmethod
    def parse(cls, process_id: int | None, addresses: str | None) -> ClusterSpec:
        """From the CLI: ``addresses`` is ``host:port;host:port;...`` (Bytewax's ``-a``)."""
        if addresses is None or not addresses.strip():
            if process_id not in (None, PRIMARY):
                msg = f"--process-id {process_id} needs --addresses listing every process"
                raise ClusterConfigError(msg)
            return cls()
        listed = tuple(_check_address(a) for a in addresses.split(";") if a.strip())
        if len(set(listed)) != len(listed):
            msg = f"cluster addresses repeat an address: {addresses!r}"
            raise ClusterConfigError(msg)
        if process_id is None:
            if len(listed) > 1:
                msg = "--addresses lists several processes: say which one this is (--process-id)"
                raise ClusterConfigError(msg)
            process_id = PRIMARY
        if not 0 <= process_id < len(listed):
            msg = f"--process-id {process_id} is not in 0..{len(listed) - 1} (--addresses)"
            raise ClusterConfigError(msg)
        return cls(process_id, listed)

    @property
    def processes(self) -> int:
        return max(1, len(self.addresses))

    @property
    def is_cluster(self) -> bool:
        return self.processes > 1

    @property
    def is_primary(self) -> bool:
        """The process that prepares the lake, the catalog and the recovery partitions."""
        return self.process_id == PRIMARY

    def recovery_dir(self, base: Path) -> Path:
        """Where this process looks for recovery partitions (see the module docstring)."""
        return base if self.is_primary else base.with_name(f"{base.name}-{self.process_id}")

    def cli_kwargs(self) -> dict[str, object]:
        """``process_id``/``addresses`` for :func:`bytewax.run.cli_main` (none alone)."""
        if not self.is_cluster:
            return {}
        return {"process_id": self.process_id, "addresses": list(self.addresses)}


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports free on ``host`` right now (the OS picks them)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def loopback_addresses(processes: int) -> str:
    return ";".join(f"127.0.0.1:{port}" for port in free_ports(processes))


class LocalCluster:
    """``processes`` × ``chargegrid pipeline run --until-drained`` on loopback, one data dir.

    Use as a context manager; :meth:`wait` returns once every process exited 0 and raises
    :class:`ClusterFailed` (with the tail of each failed process's log) otherwise. On exit every
    process still running is killed, whatever happened.
    """

    def __init__(
        self,
        data_dir: Path,
        processes: int,
        *,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.addresses = loopback_addresses(processes)
        self.logs = [data_dir / "run" / f"cluster-{i}.log" for i in range(processes)]
        self._env = {**os.environ, **(env or {})}
        self._extra = list(extra_args)
        self._procs: list[subprocess.Popen[bytes]] = []

    def command(self, process_id: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "chargegrid.cli",
            "pipeline",
            "run",
            "--until-drained",
            "--data-dir",
            str(self.data_dir),
            "--process-id",
            str(process_id),
            "--addresses",
            self.addresses,
            *self._extra,
        ]

    def start(self) -> None:
        for i, log in enumerate(self.logs):
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("wb") as out:
                self._procs.append(
                    subprocess.Popen(
                        self.command(i), stdout=out, stderr=subprocess.STDOUT, env=self._env
                    )
                )

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while any(p.poll() is None for p in self._procs):
            failed = [i for i, p in enumerate(self._procs) if p.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                self._fail(failed, timed_out=not failed)
            time.sleep(0.1)
        failed = [i for i, p in enumerate(self._procs) if p.returncode != 0]
        if failed:
            self._fail(failed, timed_out=False)

    def _fail(self, failed: list[int], *, timed_out: bool) -> None:
        self.kill()
        culprits = failed or list(range(len(self._procs)))
        tails = "\n".join(
            f"--- process {i} ({self.logs[i]}):\n{_tail(self.logs[i])}" for i in culprits
        )
        what = "did not finish in time" if timed_out else "failed"
        msg = f"local pipeline cluster {what}\n{tails}"
        raise ClusterFailed(msg)

    def kill(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self._procs:
            proc.wait()

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
