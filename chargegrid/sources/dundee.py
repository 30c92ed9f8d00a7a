"""Dundee City Council charging-session exports → typed session rows or typed rejections.

The four published exports share columns by name (the June–September file adds ``User ID`` and
three unnamed trailing columns); rows are read by header name, so column order never matters.
Times are naive Europe/London wall-clock times at minute resolution. Rules, each with a reason code:

* start: an ambiguous time (the repeated hour when clocks go back) is read as its first occurrence;
  a time inside the spring-forward gap is read with the offset before the gap (zoneinfo's rule).
* end: read like the start, but if that puts it before the start and the second occurrence of an
  ambiguous time does not, the second occurrence is taken (the session crossed the fall-back).
* empty end → ``no_end`` (session open at export); ``01/01/1970`` end → ``sentinel_date``;
  empty kWh → ``energy_missing``; negative kWh → ``energy_negative``; end still before start →
  ``end_before_start``; empty CP ID → ``unknown_charger``; a ``***TEST SITE***`` row (the
  operator's own test bench, present in the 2018 exports) → ``test_site``; an unreadable
  date/number → ``unparseable_row``; an event number seen before → ``duplicate``.

Every rejection keeps the row exactly as it stood in the file.

Whether the energy fits the outlet's power in the time is judged by the replay (it knows the
charging curve); this module only reads.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from chargegrid.events import Reason
from chargegrid.sources.records import RawRow, SourceFormatError, csv_rows

__all__ = [
    "CpLocation",
    "Judged",
    "OutletModel",
    "Rejected",
    "SessionRow",
    "SourceFormatError",
    "judge_chargeplace",
    "locations_beside",
    "outlet_model",
    "read_locations",
    "read_sessions",
]

LONDON = ZoneInfo("Europe/London")
SOURCE = "dundee"
REQUIRED_COLUMNS = (
    "Charging event",
    "CP ID",
    "Connector",
    "Start Date",
    "Start Time",
    "End Date",
    "End Time",
    "Total kWh",
)


@dataclass(frozen=True, slots=True)
class OutletModel:
    """What a Dundee ``Model`` string tells about each outlet."""

    power_w: float
    current: str  # AC | DC
    standard: str  # OCPI connector type


@dataclass(frozen=True, slots=True)
class SessionRow:
    ref: str  # "dundee:<Charging event>"
    event_id: str
    cp_id: str
    connector_id: int
    start: datetime  # UTC
    end: datetime  # UTC
    energy_wh: int
    site: str
    model: str
    user_id: str | None
    raw: str  # the CSV row as read
    file: str = ""  # name of the export it came from
    line: int = 0  # its line number there

    @property
    def outlet(self) -> OutletModel:
        return outlet_model(self.model, self.connector_id)


@dataclass(frozen=True, slots=True)
class Rejected:
    ref: str
    reason: Reason
    detail: str
    raw: str
    cp_id: str | None = None
    file: str = ""
    line: int = 0


def outlet_model(model: str, connector_id: int) -> OutletModel:
    """Rated outlet from the charger model: 7 kW / 22 kW AC posts, 50 kW DC rapids.

    Triple rapids carry CHAdeMO (1), CCS (2) and a 43 kW AC Type 2 (3).
    """
    text = model.lower()
    if "rapid" in text or "raption" in text:
        if "triple" in text and connector_id == 3:
            return OutletModel(43_000.0, "AC", "IEC_62196_T2_COMBO")
        standard = "CHADEMO" if connector_id == 1 else "IEC_62196_T2_COMBO"
        return OutletModel(50_000.0, "DC", standard)
    match = re.search(r"(\d+(?:\.\d+)?)\s*kw", text)
    power_kw = float(match.group(1)) if match else 7.0
    return OutletModel(power_kw * 1000.0, "AC", "IEC_62196_T2")


def _local(date_text: str, time_text: str, fold: int) -> datetime:
    naive = datetime.strptime(f"{date_text} {time_text}", "%d/%m/%Y %H:%M")  # noqa: DTZ007
    return naive.replace(tzinfo=LONDON, fold=fold).astimezone(UTC)


def _resolve_end(date_text: str, time_text: str, start: datetime) -> datetime:
    end = _local(date_text, time_text, 0)
    if end < start:
        later = _local(date_text, time_text, 1)
        if later >= start:
            return later
    return end


@dataclass(frozen=True, slots=True)
class Judged:
    """What the ChargePlace Scotland rules read from a row that passed them."""

    cp_id: str
    connector_id: int
    start: datetime  # UTC
    end: datetime  # UTC
    energy_wh: int


def judge_chargeplace(
    row: dict[str, str], reject: Callable[[Reason, str], Rejected]
) -> Judged | Rejected:
    """The rules every ChargePlace Scotland export (Dundee, Perth & Kinross) shares; see the
    module docstring. ``reject`` builds the rejection (the caller knows the row's reference)."""
    cp_id = (row.get("CP ID") or "").strip()
    if not cp_id:
        return reject(Reason.unknown_charger, "empty CP ID")
    site = row.get("Site") or ""
    if "TEST SITE" in site.upper():
        return reject(Reason.test_site, f"test site {site.strip()!r}")
    end_date, end_time = (row.get("End Date") or "").strip(), (row.get("End Time") or "").strip()
    kwh_text = (row.get("Total kWh") or "").strip()
    if not end_date or not end_time:
        return reject(Reason.no_end, "no End Date/End Time: session open at export")
    if end_date.endswith("/1970"):
        return reject(Reason.sentinel_date, f"End Date {end_date} is the 1970 'unknown' sentinel")
    if not kwh_text:
        return reject(Reason.energy_missing, "empty Total kWh")
    try:
        start = _local(row["Start Date"].strip(), row["Start Time"].strip(), 0)
        end = _resolve_end(end_date, end_time, start)
        kwh = float(kwh_text)
        connector_id = int(row["Connector"].strip())
    except (KeyError, ValueError) as exc:
        return reject(Reason.unparseable_row, f"unreadable field: {exc}")
    if kwh < 0:
        return reject(Reason.energy_negative, f"Total kWh {kwh_text} is negative")
    if end < start:
        return reject(Reason.end_before_start, f"end {end.isoformat()} before {start.isoformat()}")
    return Judged(cp_id, connector_id, start, end, round(kwh * 1000))


def _judge(row: RawRow, ref: str, seen: set[str]) -> SessionRow | Rejected:
    event_id = row.get("Charging event")
    cp_id = row.get("CP ID")

    def reject(reason: Reason, detail: str) -> Rejected:
        return Rejected(ref, reason, detail, row.raw, cp_id or None)

    if event_id in seen:
        return reject(Reason.duplicate, f"charging event {event_id} appears again")
    seen.add(event_id)
    judged = judge_chargeplace(row.cells, reject)
    if isinstance(judged, Rejected):
        return judged
    return SessionRow(
        ref=ref,
        event_id=event_id,
        cp_id=judged.cp_id,
        connector_id=judged.connector_id,
        start=judged.start,
        end=judged.end,
        energy_wh=judged.energy_wh,
        site=row.get("Site"),
        model=row.get("Model"),
        user_id=row.get("User ID") or None,
        raw=row.raw,
    )


def read_sessions(
    paths: tuple[Path, ...] | list[Path], limit: int | None = None
) -> Iterator[SessionRow | Rejected]:
    """Every data row of the files, in file order, judged; at most ``limit`` rows in all."""
    seen: set[str] = set()
    count = 0
    for path in paths:
        for row in csv_rows(path, REQUIRED_COLUMNS, "a Dundee session export"):
            if limit is not None and count >= limit:
                return
            count += 1
            event = row.get("Charging event")
            ref = f"{SOURCE}:{event}" if event else f"{SOURCE}:{path.name}:{row.line}"
            yield replace(_judge(row, ref, seen), file=path.name, line=row.line)


@dataclass(frozen=True, slots=True)
class CpLocation:
    cp_id: str
    lat: float
    lon: float
    name: str
    address: str
    kind: str = ""  # Type: Slow | Fast | Rapid
    file: str = ""
    line: int = 0


def read_locations(path: Path) -> dict[str, CpLocation]:
    """``cp-locations*.csv`` keyed by CP ID with any ``SCO`` prefix removed; bad rows skipped."""
    out: dict[str, CpLocation] = {}
    with path.open(newline="", encoding="utf-8-sig") as src:
        reader = csv.DictReader(src)
        for row in reader:
            cp = (row.get("CP ID") or "").strip().removeprefix("SCO")
            try:
                lat, lon = float(row["Latitude"]), float(row["Longitude"])
            except (KeyError, ValueError):
                continue
            if cp:
                out[cp] = CpLocation(
                    cp,
                    lat,
                    lon,
                    (row.get("Location") or "").strip(),
                    row.get("Address") or "",
                    (row.get("Type") or "").strip(),
                    path.name,
                    reader.line_num,
                )
    return out


def locations_beside(paths: tuple[Path, ...] | list[Path]) -> dict[str, CpLocation]:
    """Locations from the export's folder (the enriched file when present)."""
    for name in ("cp-locations_enriched.csv", "cp-locations.csv"):
        for folder in {p.parent for p in paths}:
            if (folder / name).is_file():
                return read_locations(folder / name)
    return {}
