"""Advisor speed: plans per second on synthetic hourly prices (24 h stays), and replayed sessions
per second (every strategy of the evaluation, including re-planning at publications)."""

from __future__ import annotations

import time

import numpy as np

from bench._common import emit
from models.advise.evaluate import Market, Stay, evaluate
from models.advise.plan import availability_plan, cheapest_plan, cheapest_window
from models.advise.slots import Slots

US_PER_H = 3_600_000_000


def _market(days: int) -> Market:
    hours = np.arange(days * 24)
    start = 1_514_764_800_000_000 + hours.astype(np.int64) * US_PER_H  # 2018-01-01 UTC
    price = 15e6 + 5e6 * np.sin(2 * np.pi * (hours % 24) / 24)
    price += np.random.default_rng(0).normal(0, 2e6, len(hours))
    return Market(start, start + US_PER_H, price, "EUR")


def bench_plans(n: int = 20_000) -> None:
    market = _market(2)
    slots = Slots(market.start_us[:24], market.end_us[:24], market.price[:24])
    free = np.full(24, 0.8)
    for name, make in (
        ("exact", lambda: cheapest_plan(slots, 30.0, 7.4)),
        ("window", lambda: cheapest_window(slots, 30.0, 7.4)),
        ("available", lambda: availability_plan(slots, 30.0, 7.4, free)),
    ):
        began = time.perf_counter()
        for _ in range(n):
            make()
        rate = n / (time.perf_counter() - began)
        emit("advise", f"{name}_plans_per_s", round(rate), "plans/s", slots=24)


def bench_replay(n: int = 5_000) -> None:
    market = _market(60)
    rng = np.random.default_rng(1)
    stays: list[Stay | str] = []
    for _ in range(n):
        arrival = int(market.start_us[0] + rng.integers(0, 50 * 24) * US_PER_H)
        hours = float(rng.uniform(0.5, 30))
        stays.append(Stay("b", arrival, arrival + int(hours * US_PER_H), hours * 3.0, 7.0))
    began = time.perf_counter()
    evaluate(stays, market)
    rate = n / (time.perf_counter() - began)
    emit("advise", "replayed_sessions_per_s", round(rate), "sessions/s", strategies=6)


if __name__ == "__main__":
    bench_plans()
    bench_replay()
