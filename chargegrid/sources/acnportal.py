"""acnportal time-of-use tariff files (Caltech ACN, California utilities) → :class:`Tariff`.

Schema: ``{name, effective, link, schedule: [{id, effective_start "M-D", effective_end,
dow_mask WEEKDAYS|WEEKENDS|ALL, times: [hour starts, fractional], tariffs: [USD/kWh],
demand_charge USD/kW}]}``. Mapping:

* currency USD, time zone America/Los_Angeles (every utility in the set is Californian);
* each schedule entry → a :class:`TouSchedule` with the same season window (dates are not
  zero-padded consistently; windows may wrap the year end) and day kind;
* each period → a band named ``<entry id>@<HHMM>`` (lower case), so a breakup line reads
  ``energy:summer-weekday@1200``; prices are read as exact decimals;
* ``demand_charge`` is a monthly USD/kW charge on the site's peak, not a per-session price:
  it is kept in the notes, not billed;
* entries whose windows and days overlap are kept in file order and the first wins (PG&E A-10
  marks both winter entries ``ALL``, so its winter weekends price like weekdays; newer acnportal
  refuses that file); the overlap is stated in the notes.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from chargegrid.tariffs import Tariff, TariffError, parse_tariff

TIMEZONE = "America/Los_Angeles"
DAYS = {"WEEKDAYS": "weekdays", "WEEKENDS": "weekends", "ALL": "all"}


def load_acnportal_tariff(path: Path) -> Tariff:
    """Read one acnportal tariff JSON file; errors name the file and the entry."""
    try:
        raw = json.loads(path.read_bytes(), parse_float=Decimal)
    except (OSError, ValueError) as exc:
        msg = f"{path}: not a readable acnportal tariff (JSON: {exc})"
        raise TariffError(msg) from None
    try:
        document = _to_tariff_document(raw, path.stem)
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"{path}: not an acnportal tariff ({type(exc).__name__}: {exc})"
        raise TariffError(msg) from None
    tariff = parse_tariff(json.dumps(document), str(path))
    overlaps = _overlaps(tariff)
    if overlaps:
        notes = f"{tariff.notes} {overlaps}"
        tariff = tariff.model_copy(update={"notes": notes})
    return tariff


def _to_tariff_document(raw: dict[str, Any], stem: str) -> dict[str, Any]:
    entries = raw["schedule"]
    demand = sorted({str(e.get("demand_charge", 0)) for e in entries})
    return {
        "id": "acn-" + re.sub(r"[^A-Za-z0-9_.-]", "-", stem),
        "name": str(raw["name"]),
        "currency": "USD",
        "timezone": TIMEZONE,
        "energy": [_schedule(e, i) for i, e in enumerate(entries)],
        "source": str(raw.get("link", "")) or None,
        "notes": (
            f"acnportal file, effective {raw.get('effective')}; demand charge(s) "
            f"{', '.join(demand)} USD/kW per month not billed per session."
        ),
    }


def _schedule(entry: dict[str, Any], index: int) -> dict[str, Any]:
    times, prices = entry["times"], entry["tariffs"]
    if len(times) != len(prices) or not times:
        msg = f"schedule[{index}] ({entry.get('id')}): {len(times)} times, {len(prices)} tariffs"
        raise ValueError(msg)
    slug = re.sub(r"[^a-z0-9_.-]", "-", str(entry["id"]).lower())
    bands = []
    for hour, price in zip(times, prices, strict=True):
        hhmm = _hour_to_hhmm(Decimal(str(hour)), index)
        bands.append(
            {"name": f"{slug}@{hhmm.replace(':', '')}", "start": hhmm, "price_per_kwh": str(price)}
        )
    return {
        "name": str(entry["id"]),
        "season_start": str(entry["effective_start"]),
        "season_end": str(entry["effective_end"]),
        "days": DAYS[str(entry["dow_mask"])],
        "bands": bands,
    }


def _hour_to_hhmm(hour: Decimal, index: int) -> str:
    minutes = hour * 60
    if minutes != minutes.to_integral_value() or not 0 <= minutes < 24 * 60:
        msg = f"schedule[{index}]: period start {hour} h is not a whole minute of the day"
        raise ValueError(msg)
    return f"{int(minutes) // 60:02d}:{int(minutes) % 60:02d}"


def _overlaps(tariff: Tariff) -> str:
    """A sentence naming schedules that share a date (first wins), or ''."""
    seen: set[tuple[str, str]] = set()
    day = date(2024, 1, 1)
    for _ in range(366):
        matching = [s.name for s in tariff.energy if s.recurs_on(day)]
        if len(matching) > 1:
            seen.add((matching[0], ", ".join(matching[1:])))
        day += timedelta(days=1)
    if not seen:
        return ""
    parts = [f"{first} shadows {rest}" for first, rest in sorted(seen)]
    return "Overlapping schedules, first wins: " + "; ".join(parts) + "."
