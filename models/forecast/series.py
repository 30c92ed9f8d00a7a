"""Sessions → hourly series per site (or the whole city): energy and occupancy.

* ``energy_kwh[s, t]``: kWh delivered during hour ``t``. Each session's energy is spread evenly
  over its **estimated charging time** from plug-in: the recorded charging time when the source has
  one (Boulder), else energy / power with power = the outlet rating, and for AC outlets at most
  7.4 kW (what most cars take on AC); never longer than the plug-in time. Spreading over the whole
  plug-in time instead would smear an overnight top-up over 12 idle hours.
* ``occupancy[s, t]``: mean number of connectors plugged in during hour ``t`` (plugged-in
  connector-hours in the hour).
* ``ports[s, t]``: connectors with at least one plug-in during the 28 days before hour ``t`` (a
  past-only view of the site's size as it grows).

**Unknown days.** A local day on which no plug-in was recorded anywhere while the network
otherwise records at least :data:`BUSY_PLUGINS_PER_DAY` a day (median of the 28 days around it)
is a gap in the exports, not a day without demand (Dundee's files skip 3–4 March 2018): its hours
are NaN in ``energy_kwh`` and ``occupancy`` (unknown, never zero) and :attr:`Panel.unknown` marks
them. With 20 plug-ins expected, a real empty day has Poisson probability ~2e-9.

Hours are UTC hour starts ``hours[t]``; ``local`` gives the calendar of each hour in the source's
time zone. The series end at the local midnight after the last plug-in, so a final partial day
(and sessions still open at export, which the readers reject) do not look like an empty day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from chargegrid.errors import ChargegridError
from models.forecast.sessions import AC_VEHICLE_W, Session

Level = Literal["site", "city"]
Target = Literal["energy", "occupancy"]
PORT_WINDOW_H = 28 * 24
HOUR_S = 3600.0
BUSY_PLUGINS_PER_DAY = 20.0


class SeriesError(ChargegridError):
    """Too little data to build hourly series."""


@dataclass(frozen=True, slots=True)
class Panel:
    """Hourly series, one row per site (or one row ``"city"``)."""

    names: tuple[str, ...]
    hours: pd.DatetimeIndex  # UTC hour starts
    time_zone: str
    energy_kwh: NDArray[np.float64]  # (series, hours)
    occupancy: NDArray[np.float64]  # (series, hours)
    ports: NDArray[np.float64]  # (series, hours)

    def target(self, name: Target) -> NDArray[np.float64]:
        return self.energy_kwh if name == "energy" else self.occupancy

    @property
    def unknown(self) -> NDArray[np.bool_]:
        """Hours lost to a gap in the exports (NaN in every series)."""
        return np.asarray(np.isnan(self.energy_kwh).all(axis=0), dtype=bool)

    def rows(self, keep: NDArray[np.bool_], name: str) -> Panel:
        """One series ``name``: the sum of the rows ``keep`` (e.g. the city of chosen sites)."""
        return Panel(
            names=(name,),
            hours=self.hours,
            time_zone=self.time_zone,
            energy_kwh=self.energy_kwh[keep].sum(axis=0, keepdims=True),
            occupancy=self.occupancy[keep].sum(axis=0, keepdims=True),
            ports=self.ports[keep].sum(axis=0, keepdims=True),
        )

    @property
    def local(self) -> pd.DatetimeIndex:
        return self.hours.tz_convert(self.time_zone)


def charging_s(session: Session) -> float:
    """Estimated seconds drawing power (see the module docstring)."""
    if session.charging_s is not None:
        return min(session.charging_s, session.plugged_s)
    power_w = session.rated_power_w
    if session.current == "AC":
        power_w = min(power_w, AC_VEHICLE_W)
    return min(session.energy_wh / power_w * HOUR_S, session.plugged_s)


def spread(
    row: NDArray[np.int64],
    start_h: NDArray[np.float64],
    end_h: NDArray[np.float64],
    amount: NDArray[np.float64],
    shape: tuple[int, int],
) -> NDArray[np.float64]:
    """Spread each ``amount`` evenly over ``[start_h, end_h)`` (fractional hour indices) into the
    hourly buckets of row ``row``, ``shape = (rows, hours)``. Zero-length intervals put their
    amount in the start hour; what falls outside ``[0, hours)`` is dropped."""
    hours = shape[1]
    out = np.zeros((shape[0], hours + 1))
    length = end_h - start_h
    point = length <= 0
    rate = np.where(point, 0.0, amount / np.where(point, 1.0, length))
    start_h, end_h = np.clip(start_h, 0, hours), np.clip(end_h, 0, hours)
    a, b = np.floor(start_h).astype(np.int64), np.floor(end_h).astype(np.int64)
    np.add.at(out, (row[point], a[point]), amount[point])
    same = ~point & (a == b)
    np.add.at(out, (row[same], a[same]), rate[same] * (end_h[same] - start_h[same]))
    cross = ~point & (a < b)
    r, a, b, s, e, k = row[cross], a[cross], b[cross], start_h[cross], end_h[cross], rate[cross]
    np.add.at(out, (r, a), k * (a + 1 - s))
    np.add.at(out, (r, b), k * (e - b))
    middle = np.zeros_like(out)
    np.add.at(middle, (r, a + 1), k)
    np.add.at(middle, (r, b), -k)
    out += np.cumsum(middle, axis=1)
    return out[:, :hours]


def _ports(
    row: NDArray[np.int64],
    start_h: NDArray[np.float64],
    port_ids: list[str],
    shape: tuple[int, int],
) -> NDArray[np.float64]:
    """Distinct ports per row with a plug-in in ``[t - 28 days, t)``."""
    codes, uniques = pd.factorize(pd.Series(port_ids))
    out = np.zeros(shape)
    starts = np.floor(start_h).astype(np.int64)
    for code in range(len(uniques)):
        mine = codes == code
        counts = np.bincount(starts[mine], minlength=shape[1])[: shape[1]]
        cum = np.concatenate([[0], np.cumsum(counts)])
        t = np.arange(shape[1])
        recent = cum[t] - cum[np.maximum(t - PORT_WINDOW_H, 0)]
        out[row[mine][0]] += recent > 0
    return out


def unknown_hours(start_h: NDArray[np.float64], local: pd.DatetimeIndex) -> NDArray[np.bool_]:
    """Hours of local days without any plug-in in a busy network (see the module docstring)."""
    day_of_hour = local.normalize()
    days = day_of_hour.unique()
    hour_index = np.clip(np.floor(start_h).astype(np.int64), 0, len(local) - 1)
    per_day = pd.Series(0.0, index=days).add(
        pd.Series(1.0, index=day_of_hour[hour_index]).groupby(level=0).sum(), fill_value=0.0
    )
    busy = per_day.where(per_day > 0).rolling(29, center=True, min_periods=7).median()
    missing = per_day.index[(per_day == 0) & (busy >= BUSY_PLUGINS_PER_DAY)]
    return np.asarray(day_of_hour.isin(missing))


def build(sessions: tuple[Session, ...], time_zone: str, level: Level = "site") -> Panel:
    """Hourly :class:`Panel` of ``sessions`` at ``level`` (``site`` rows or one ``city`` row)."""
    if not sessions:
        msg = "no sessions to build hourly series from"
        raise SeriesError(msg)
    starts = pd.DatetimeIndex([s.start for s in sessions]).tz_convert("UTC")
    first = starts.min().tz_convert(time_zone).normalize().tz_convert("UTC")
    last = (starts.max().tz_convert(time_zone).normalize() + pd.Timedelta(days=1)).tz_convert("UTC")
    hours = pd.date_range(first, last, freq="h", inclusive="left")
    start_h = (starts - first).total_seconds().to_numpy() / HOUR_S
    plugged_h = np.array([s.plugged_s for s in sessions]) / HOUR_S
    charge_h = np.array([charging_s(s) for s in sessions]) / HOUR_S
    if level == "city":
        names: tuple[str, ...] = ("city",)
        row = np.zeros(len(sessions), dtype=np.int64)
    else:
        codes, uniques = pd.factorize(pd.Series([s.site for s in sessions]))
        names, row = tuple(str(u) for u in uniques), codes.astype(np.int64)
    shape = (len(names), len(hours))
    energy = np.array([s.energy_wh for s in sessions], dtype=float) / 1000.0
    unknown = unknown_hours(start_h, hours.tz_convert(time_zone))
    energy_kwh = spread(row, start_h, start_h + charge_h, energy, shape)
    occupancy = spread(row, start_h, start_h + plugged_h, plugged_h, shape)
    energy_kwh[:, unknown] = np.nan
    occupancy[:, unknown] = np.nan
    return Panel(
        names=names,
        hours=hours,
        time_zone=time_zone,
        energy_kwh=energy_kwh,
        occupancy=occupancy,
        ports=_ports(row, start_h, [f"{s.site}|{s.port}" for s in sessions], shape),
    )
