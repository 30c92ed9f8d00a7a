"""Clocks are passed in; logic never calls ``datetime.now()`` itself."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current tz-aware UTC time."""
        ...


class SystemClock:
    """Wall-clock UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FrozenClock:
    """A clock tests move by hand."""

    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class ScaledClock:
    """Simulated time that runs ``speed`` times faster than the wall clock from ``origin``."""

    origin: datetime
    speed: float = 1.0
    _wall_start: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        elapsed_s = (time.monotonic() - self._wall_start) * self.speed
        return self.origin + timedelta(seconds=elapsed_s)

    def wall_seconds_until(self, when: datetime) -> float:
        """Wall-clock seconds to wait until simulated time reaches ``when`` (>= 0)."""
        return max(0.0, (when - self.now()).total_seconds() / self.speed)


def utc(dt: datetime) -> datetime:
    """Refuse naive datetimes; convert aware ones to UTC."""
    if dt.tzinfo is None:
        msg = f"naive datetime {dt.isoformat()} where a tz-aware time is required"
        raise ValueError(msg)
    return dt.astimezone(UTC)
