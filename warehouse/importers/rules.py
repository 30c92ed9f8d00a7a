"""Plausibility rules every imported session passes, whatever its source.

Checked in this order; the first that fails is the rejection reason:

1. ``end_before_start``: plug-out before plug-in (after the reader's DST resolution);
2. ``energy_negative``: less than 0 Wh;
3. ``zero_duration``: plug-out at the plug-in time (minute-resolution exports: under a minute);
   no plug-in time can be attributed, so the row is no use for utilisation or energy per hour;
4. ``zero_energy``: 0 Wh delivered (plugged in, nothing charged);
5. ``energy_exceeds_outlet``: more energy than the outlet's rating could deliver in the time, i.e.
   ``energy_wh > OUTLET_TOLERANCE × rated_power_w × (duration_s + RESOLUTION_S) / 3600``. The
   slack covers minute-resolution timestamps (true duration up to a minute longer) and ratings
   rounded down in model names. Sources without a rating skip this rule.
"""

from __future__ import annotations

from chargegrid.events import Reason
from chargegrid.sources.records import RowRejected, SessionRecord

OUTLET_TOLERANCE = 1.1
RESOLUTION_S = 60.0


def max_energy_wh(rated_power_w: float, duration_s: float) -> float:
    """Most energy (Wh) an outlet of ``rated_power_w`` (W) plausibly delivers in ``duration_s``."""
    return OUTLET_TOLERANCE * rated_power_w * (duration_s + RESOLUTION_S) / 3600.0


def judge(record: SessionRecord) -> SessionRecord | RowRejected:
    """``record`` unchanged when plausible, else its rejection (rules in the module docstring)."""
    duration_s = (record.ended_at - record.started_at).total_seconds()
    verdict = _verdict(record, duration_s)
    if verdict is None:
        return record
    reason, detail = verdict
    return RowRejected(
        record.source, record.file, record.line, reason, detail, record.raw, record.station_id
    )


def _verdict(record: SessionRecord, duration_s: float) -> tuple[Reason, str] | None:
    if duration_s < 0:
        return Reason.end_before_start, (
            f"ends {record.ended_at.isoformat()} before it starts {record.started_at.isoformat()}"
        )
    if record.energy_wh < 0:
        return Reason.energy_negative, f"{record.energy_wh} Wh"
    if duration_s == 0:
        return Reason.zero_duration, f"starts and ends at {record.started_at.isoformat()}"
    if record.energy_wh == 0:
        return Reason.zero_energy, "0 Wh delivered"
    rated = record.rated_power_w
    if rated is not None and record.energy_wh > max_energy_wh(rated, duration_s):
        return Reason.energy_exceeds_outlet, (
            f"{record.energy_wh} Wh in {duration_s / 60:.0f} min exceeds a "
            f"{rated / 1000:g} kW outlet"
        )
    return None
