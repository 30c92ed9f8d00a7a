"""SIGTERM handled like Ctrl-C, for the commands that must clean up when stopped.

``kill``, ``timeout`` and service managers stop a process with SIGTERM, whose default action ends
it at once: no ``finally`` runs. The pipeline would leave its last epoch unflushed, and the demo
would leave its child servers (started in sessions of their own, so Ctrl-C in a terminal reaches
only the demo) running and holding their ports. Inside :func:`sigterm_as_interrupt`, SIGTERM
raises :class:`KeyboardInterrupt` in the main thread instead, and the usual Ctrl-C path runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`KeyboardInterrupt` (main thread only: elsewhere
    the caller owns signals and nothing is installed)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
