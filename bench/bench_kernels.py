"""Billing kernel throughput on 20 M readings / 200 k sessions, against same-run baselines.

Figures (all ``kernels.billing``): readings/s serial and on 2 threads; memory read bandwidth
measured in the same run (``np.sum`` over 800 MB); the kernel's input bytes/s (timestamps +
registers, 16 B a reading) as a fraction of it; speed-up over a polars expression pipeline doing
a *simpler* billing (each interval priced at the band of its start, no interpolation, no
register rules: a conservative baseline) and over the plain-Python reference (on a sample);
first call in a fresh process (Numba cache). Serial is the kernel's one-thread path
(``parallel=False``); 2 threads is ``prange`` over chunks of equal reading counts. Both modes
bill the same input into output arrays the kernel allocates on each call (what a caller gets
by default); the ``*_reused_out`` figures repeat the comparison with arrays both modes pass
back through ``out=`` (what a caller billing batch after batch can do). Best of ``RUNS`` runs
of each, alternated so that both modes see the same load, each call after ``SETTLE_S`` idle so
that every call starts with the OpenMP workers asleep (libgomp spins for milliseconds after a
parallel region; without the pause a serial call would share the machine with that spin and a
2-thread call would skip the wake-up). The machine is shared, so the rates are also given per
CPU second (``process_time``; for 2 threads, readings per CPU second of both) and the 1-minute
load average is recorded with each figure.

Why 2 threads fall short of 2x here: the serial kernel already streams ~14 GB/s, about half
of what one core can read (~30 GB/s); two cores together read only ~33 GB/s
(``read_bandwidth_2_threads``: the same sum split over two threads), so 1.7x needs ~70 % of
the machine's read bandwidth from the two threads; they get ~63 %
(``two_thread_fraction_of_read_bandwidth``). On inputs that stay in the 32 MB L3 cache the
kernel runs 2.1x faster on 2 threads, and two threads billing separate copies of the data
slow down as much as when they share it (measured by hand), so the loss is the memory
system's, not the kernel's scheduling.

The 16 B a reading are what the kernel must read per reading (it reads each timestamp and
register once, in one pass); the per-session inputs and outputs (offsets, plug times, about
170 B of bill rows a session, i.e. ~2 B a reading) are left out, so the fraction errs low.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numba
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit
from chargegrid.tariffs import compile_tariff, load_tariff, to_us
from pipeline.kernels.billing import (
    UNKNOWN_US,
    BillArrays,
    bill_buffers,
    bill_sessions_kernel,
    bill_sessions_reference,
)

BENCH = "kernels.billing"
SESSIONS = 200_000
PER_SESSION = 100
READINGS = SESSIONS * PER_SESSION
BYTES_PER_READING = 16  # int64 timestamp + float64 register
RUNS = 15  # timed calls per mode and output policy (~25 ms each), serial and 2 threads alternated
SETTLE_S = 0.05  # idle before each timed call: OpenMP workers back asleep, as for a fresh call
ROOT = Path(__file__).resolve().parents[1]
YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)


def synthetic() -> dict[str, np.ndarray]:
    """Sessions spread over 2024, a reading a minute, 3-22 kW, registers rising."""
    rng = np.random.default_rng(7)
    start = to_us(YEAR_START) + rng.integers(0, 364 * 86_400, SESSIONS) * 1_000_000
    start.sort()
    step = 60_000_000
    offsets = np.arange(PER_SESSION, dtype=np.int64) * step
    ts = (start[:, None] + offsets[None, :]).ravel()
    power_w = rng.uniform(3_000, 22_000, SESSIONS)
    wh_per_step = power_w / 60.0
    base = rng.uniform(0, 1e6, SESSIONS)
    reg = (base[:, None] + wh_per_step[:, None] * np.arange(PER_SESSION)[None, :]).ravel()
    starts = np.arange(SESSIONS + 1, dtype=np.int64) * PER_SESSION
    return {"starts": starts, "ts": ts, "reg": reg, "power": np.full(READINGS, np.nan)}


def best_of(runs: int, fn: Callable[[], object]) -> float:
    """Best wall-clock seconds of ``runs`` calls."""
    return min(timed(fn) for _ in range(runs))[0]


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    time.sleep(SETTLE_S)
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


@numba.njit(parallel=True, fastmath=True)
def _sum_in_chunks(a: np.ndarray, chunks: int) -> float:  # pragma: no cover - compiled
    m = a.shape[0] // chunks
    sums = np.zeros(chunks)
    for c in numba.prange(chunks):
        sums[c] = np.sum(a[c * m : (c + 1) * m])
    return float(sums.sum())


def read_bandwidth_threads() -> float:
    """Bytes/s of a sum over an 800 MB float64 array split over Numba's threads (best of 5)."""
    big = np.ones(100_000_000, np.float64)
    _sum_in_chunks(big, 64)
    return big.nbytes / best_of(5, lambda: _sum_in_chunks(big, 64))


def read_bandwidth() -> float:
    """Bytes/s of ``np.sum`` over an 800 MB float64 array (best of 5)."""
    big = np.ones(100_000_000, np.float64)
    big.sum()
    return big.nbytes / best_of(5, big.sum)


def main() -> None:
    tariff = load_tariff(ROOT / "data" / "tariffs" / "uk_tou_vat.json")
    compiled = compile_tariff(tariff, YEAR_START, datetime(2025, 1, 2, tzinfo=UTC))
    d = synthetic()
    unknown = np.full(SESSIONS, UNKNOWN_US, np.int64)

    def args(lo: int = 0, hi: int = SESSIONS) -> tuple[Any, ...]:
        s = d["starts"][lo : hi + 1]
        r0, r1 = int(s[0]), int(s[-1])
        return (
            s - r0, d["ts"][r0:r1], d["reg"][r0:r1], d["power"][r0:r1],
            unknown[lo:hi], unknown[lo:hi], compiled.boundaries_us, compiled.piece_line,
            compiled.piece_price, len(compiled.line_names), compiled.fees, compiled.tax_ppm,
            0.5, 0.0, 900.0,
        )  # fmt: skip

    full = args()
    bill_sessions_kernel(*args(0, 10), parallel=True)  # load from cache
    bill_sessions_kernel(*args(0, 10), parallel=False)
    numba.set_num_threads(min(2, numba.get_num_threads()))
    fresh = serial_and_two_threads(full, None)
    n_taxes = compiled.tax_ppm.shape[0]
    reused = serial_and_two_threads(full, bill_buffers(SESSIONS, len(compiled.line_names), n_taxes))
    bandwidth = read_bandwidth()
    bandwidth_2 = read_bandwidth_threads()
    common: dict[str, Any] = {
        "readings": READINGS,
        "sessions": SESSIONS,
        "runs": RUNS,
        "load_avg_1m": os.getloadavg()[0],
    }
    two_s = emit_modes(fresh, "", "allocated by the kernel on each call", common)
    serial_rate = READINGS / fresh[0]
    fraction = serial_rate * BYTES_PER_READING / bandwidth
    emit(BENCH, "read_bandwidth", bandwidth, "B/s", method="np.sum over 800 MB float64")
    emit(
        BENCH,
        "serial_fraction_of_read_bandwidth",
        fraction,
        "ratio",
        target=">= 0.15",
        meets=fraction >= 0.15,
        bytes_per_reading=BYTES_PER_READING,
        per_cpu_s=READINGS / fresh[1] * BYTES_PER_READING / bandwidth,
    )
    emit(BENCH, "read_bandwidth_2_threads", bandwidth_2, "B/s", method="prange sum, 800 MB")
    emit(
        BENCH,
        "two_thread_fraction_of_read_bandwidth",
        READINGS / two_s * BYTES_PER_READING / bandwidth_2,
        "ratio",
        bytes_per_reading=BYTES_PER_READING,
    )
    emit_modes(reused, "_reused_out", "passed in through out=, the same arrays every call", common)
    polars_s = best_of(2, lambda: polars_billing(d, compiled))
    ratio = polars_s / two_s
    emit(BENCH, "speedup_vs_polars", ratio, "ratio", target=">= 15", meets=ratio >= 15, **common)
    sample = 2_000
    python_s = best_of(1, lambda: bill_sessions_reference(*args(0, sample)))
    python_rate = sample * PER_SESSION / python_s
    two_rate = READINGS / two_s
    emit(BENCH, "speedup_vs_python_reference", two_rate / python_rate, "ratio", sample=sample)
    first = first_call_seconds()
    emit(BENCH, "first_call_new_process_s", first, "s", target="< 1", meets=first < 1.0)


Modes = tuple[float, float, float, float]  # best wall and CPU s: serial, then 2 threads


def serial_and_two_threads(full: tuple[Any, ...], out: BillArrays | None) -> Modes:
    """Best of ``RUNS`` alternated calls per mode, both with the same ``out``."""
    serial_runs, two_runs = [], []
    for _ in range(RUNS):  # alternated, so both see the same load on a shared machine
        serial_runs.append(timed(lambda: bill_sessions_kernel(*full, parallel=False, out=out)))
        two_runs.append(timed(lambda: bill_sessions_kernel(*full, parallel=True, out=out)))
    return (
        min(r[0] for r in serial_runs),
        min(r[1] for r in serial_runs),
        min(r[0] for r in two_runs),
        min(r[1] for r in two_runs),
    )


def emit_modes(modes: Modes, suffix: str, outputs: str, common: dict[str, Any]) -> float:
    """Rates of both modes and the speed-up (target >= 1.7); returns the 2-thread seconds."""
    serial_s, serial_cpu_s, two_s, two_cpu_s = modes
    extra = {**common, "outputs": outputs}
    emit(BENCH, f"readings_per_s_serial{suffix}", READINGS / serial_s, "1/s", **extra)
    emit(BENCH, f"readings_per_cpu_s_serial{suffix}", READINGS / serial_cpu_s, "1/s", **extra)
    emit(BENCH, f"readings_per_s_2_threads{suffix}", READINGS / two_s, "1/s", **extra)
    emit(BENCH, f"readings_per_cpu_s_2_threads{suffix}", READINGS / two_cpu_s, "1/s", **extra)
    speedup = serial_s / two_s
    emit(
        BENCH,
        f"two_thread_speedup{suffix}",
        speedup,
        "ratio",
        target=">= 1.7",
        meets=speedup >= 1.7,
        **extra,
    )
    return two_s


def polars_billing(d: dict[str, np.ndarray], compiled: object) -> pl.DataFrame:
    """Energy per session and band with polars expressions (interval priced at its start)."""
    from chargegrid.tariffs import CompiledTariff

    assert isinstance(compiled, CompiledTariff)
    session = np.repeat(np.arange(SESSIONS, dtype=np.int64), PER_SESSION)
    bands = pl.DataFrame(
        {
            "ts": compiled.boundaries_us[:-1],
            "line": compiled.piece_line,
            "price": compiled.piece_price,
        }
    ).lazy()
    readings = pl.DataFrame({"session": session, "ts": d["ts"], "reg": d["reg"]}).lazy()
    energy = (
        readings.with_columns(
            de=((pl.col("reg").shift(-1).over("session") - pl.col("reg")) * 1000).round(0)
        )
        .drop_nulls("de")
        .sort("ts")
        .join_asof(bands, on="ts")
        .group_by("session", "line")
        .agg(mwh=pl.col("de").sum(), value=(pl.col("de") * pl.col("price")).sum())
        .with_columns(minor=(pl.col("value") / 1e12).round(0))
        .group_by("session")
        .agg(net=pl.col("minor").sum() + int(compiled.fees[4]))
        .with_columns(total=pl.col("net") + (pl.col("net") * 0.2).round(0))
    )
    return energy.collect()


def first_call_seconds() -> float:
    """Seconds of the first kernel call in a fresh interpreter (imports not counted)."""
    code = (
        "import time, numpy as np\n"
        "from pipeline.kernels.billing import bill_sessions_kernel\n"
        "i = np.array([0, 2], np.int64); ts = np.array([0, 60_000_000], np.int64)\n"
        "f = np.array([0.0, 1000.0]); u = np.array([np.iinfo(np.int64).min])\n"
        "b = np.array([-10**12, 10**12], np.int64); one = np.array([0], np.int64)\n"
        "fees = np.array([0, 0, 0, 0, 0, 0, -1], np.int64); tax = np.zeros(0, np.int64)\n"
        "t0 = time.perf_counter()\n"
        "bill_sessions_kernel(i, ts, f, f * np.nan, u, u, b, one, one + 10**7, 1, fees, tax,"
        " 0.5, 0.0, 900.0)\n"
        "print(time.perf_counter() - t0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = []
    for _ in range(2):  # the first run may populate the cache
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        runs.append(float(done.stdout.strip()))
    return runs[-1]


if __name__ == "__main__":
    main()
