"""City of Boulder (CO) ChargePoint session exports → typed session rows or typed rejections.

Two deliveries of one dataset are read alike: the portal file
(``Electric_Vehicle_Charging_Station_Energy_Consumption.csv``) and a later re-export
(``ev_chargingstationdata_Boulder_March 2021.csv``). Both are UTF-8 with a byte-order mark; rows
are read by header name. Rules, each with a reason code (every rejection keeps the row as it stood):

* **Times.** ``Start_Date___Time`` and ``End_Date___Time`` are local wall-clock times
  (``yyyy/mm/dd HH:MM:SS``). Both are read at the fixed offset of the *start's* zone label
  (``MST`` −07:00, ``MDT`` −06:00). The end label is ignored: across DST changes the export
  computes the end as start + duration in the start's offset (``Total_Duration`` agrees with that
  reading on every row, including multi-day sessions and the 40 rows whose labels contradict
  America/Denver's rule, while the end labels do not). The re-export's ``+00`` suffix is false
  (its values equal the primary file's local times) and is dropped. An unknown label →
  ``unparseable_row``.
* ``End_Date___Time`` in 1970 or a duration of ``838:59:59`` (the largest MySQL TIME: "unknown")
  → ``sentinel_date``; empty or unreadable numbers/dates → ``unparseable_row``; empty energy →
  ``energy_missing``; negative → ``energy_negative``; end before start → ``end_before_start``;
  empty station → ``unknown_charger``.
* End − start disagreeing with ``Total_Duration`` by more than :data:`DURATION_TOLERANCE` →
  ``implausible_value`` (the two fields of one row cannot both be true).
* Station ``BOULDERJUNCTION / JUNCTION ST1`` is ``BOULDER / JUNCTION ST1`` renamed in August 2019
  (same address, no overlap in time): :data:`STATION_ALIASES` maps it back.
* The same (station, start, end, Wh) seen before, in this file or an earlier one, → ``duplicate``
  (15 such pairs in the portal file; the re-export repeats every portal row).

``charging_s`` is ``Charging_Time`` (time the car drew power), at most the plug-in time.
Ports are all Level 2 (AC); the export gives no power rating.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from chargegrid.events import Reason
from chargegrid.sources.dundee import Rejected
from chargegrid.sources.records import SourceFormatError, csv_rows

SOURCE = "boulder"
ZONE_OFFSETS = {"MST": timezone(timedelta(hours=-7)), "MDT": timezone(timedelta(hours=-6))}
STATION_ALIASES = {"BOULDERJUNCTION / JUNCTION ST1": "BOULDER / JUNCTION ST1"}
SENTINEL_DURATION = "838:59:59"
DURATION_TOLERANCE = timedelta(minutes=15)
REQUIRED_COLUMNS = (
    "Station_Name",
    "Address",
    "Start_Date___Time",
    "Start_Time_Zone",
    "End_Date___Time",
    "Total_Duration__hh_mm_ss_",
    "Charging_Time__hh_mm_ss_",
    "Energy__kWh_",
)

__all__ = ["BoulderSession", "Rejected", "SourceFormatError", "read_locations", "read_sessions"]


@dataclass(frozen=True, slots=True)
class BoulderSession:
    ref: str  # "boulder:<file name>:<ObjectId or line>"
    station: str  # canonical name (aliases applied)
    address: str
    start: datetime  # UTC
    end: datetime  # UTC
    charging_s: int  # seconds drawing power, <= plug-in seconds
    energy_wh: int
    object_id: str
    raw: str  # the CSV row as read
    file: str = ""  # name of the export it came from
    line: int = 0  # its line number there

    @property
    def site(self) -> str:
        """Where the station stands: its address as published (a moved station changes site)."""
        return self.address


def _hms_s(text: str) -> int:
    """``"95:06:31"`` → 342391 seconds (hours may exceed 24)."""
    hours, minutes, seconds = text.strip().split(":")
    if not (0 <= int(minutes) < 60 and 0 <= int(seconds) < 60):
        msg = f"{text!r} is not h:mm:ss"
        raise ValueError(msg)
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds)


def _local(text: str, zone: timezone) -> datetime:
    naive = datetime.strptime(text.strip().removesuffix("+00"), "%Y/%m/%d %H:%M:%S")  # noqa: DTZ007
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _judge(
    row: dict[str, str], ref: str, raw: str, seen: set[tuple[object, ...]]
) -> BoulderSession | Rejected:
    name = (row.get("Station_Name") or "").strip()
    station = STATION_ALIASES.get(name, name)

    def reject(reason: Reason, detail: str) -> Rejected:
        return Rejected(ref, reason, detail, raw, station or None)

    if not station:
        return reject(Reason.unknown_charger, "empty Station_Name")
    end_text = (row.get("End_Date___Time") or "").strip()
    duration_text = (row.get("Total_Duration__hh_mm_ss_") or "").strip()
    if end_text.startswith("1970") or duration_text == SENTINEL_DURATION:
        return reject(Reason.sentinel_date, f"end {end_text!r} / duration {duration_text!r}")
    kwh_text = (row.get("Energy__kWh_") or "").strip()
    if not kwh_text:
        return reject(Reason.energy_missing, "empty Energy__kWh_")
    label = (row.get("Start_Time_Zone") or "").strip()
    if label not in ZONE_OFFSETS:
        return reject(Reason.unparseable_row, f"Start_Time_Zone {label!r} is not MST or MDT")
    try:
        start = _local(row["Start_Date___Time"], ZONE_OFFSETS[label])
        end = _local(end_text, ZONE_OFFSETS[label])
        duration_s = _hms_s(duration_text)
        charging_s = _hms_s(row["Charging_Time__hh_mm_ss_"])
        kwh = float(kwh_text)
    except (KeyError, ValueError) as exc:
        return reject(Reason.unparseable_row, f"unreadable field: {exc}")
    if kwh < 0:
        return reject(Reason.energy_negative, f"Energy__kWh_ {kwh_text} is negative")
    if end < start:
        return reject(Reason.end_before_start, f"end {end.isoformat()} before {start.isoformat()}")
    gap = abs(end - start - timedelta(seconds=duration_s))
    if gap > DURATION_TOLERANCE:
        detail = f"end − start = {end - start} but Total_Duration = {duration_text}"
        return reject(Reason.implausible_value, detail)
    energy_wh = round(kwh * 1000)
    key = (station, start, end, energy_wh)
    if key in seen:
        return reject(Reason.duplicate, f"{station} at {start.isoformat()} again")
    seen.add(key)
    return BoulderSession(
        ref=ref,
        station=station,
        address=(row.get("Address") or "").strip(),
        start=start,
        end=end,
        charging_s=min(charging_s, round((end - start).total_seconds())),
        energy_wh=energy_wh,
        object_id=(row.get("ObjectId") or "").strip(),
        raw=raw,
    )


def read_sessions(
    paths: tuple[Path, ...] | list[Path], limit: int | None = None
) -> Iterator[BoulderSession | Rejected]:
    """Every data row of the files, in file order, judged; at most ``limit`` rows in all.

    Duplicates are judged across all ``paths``: pass the portal file first and the re-export
    second to get the re-export's new sessions only.
    """
    seen: set[tuple[object, ...]] = set()
    count = 0
    for path in paths:
        for row in csv_rows(path, REQUIRED_COLUMNS, "a Boulder session export"):
            if limit is not None and count >= limit:
                return
            count += 1
            oid = row.get("ObjectId") or f"line{row.line}"
            judged = _judge(row.cells, f"{SOURCE}:{path.name}:{oid}", row.raw, seen)
            if isinstance(judged, BoulderSession):
                judged = replace(judged, file=path.name, line=row.line)
            yield judged


def read_locations(path: Path) -> dict[str, tuple[float, float]]:
    """``Boulder_locations.csv`` → ``{address: (lat, lon)}``; rows without numbers skipped."""
    out: dict[str, tuple[float, float]] = {}
    with path.open(newline="", encoding="utf-8-sig") as src:
        for row in csv.DictReader(src):
            address = (row.get("Address") or "").strip()
            try:
                lat, lon = float(row["Latitude"]), float(row["Longitude"])
            except (KeyError, TypeError, ValueError):
                continue
            if address:
                out.setdefault(address, (lat, lon))
    return out
