"""Perth & Kinross Council charging-session exports → typed session rows or typed rejections.

The three yearly exports (``electricvehiclechargecorrected.csv`` and the two
``…standardisedcorrected.csv``) share the Dundee layout without ``Charging event``: ``CP ID,
Connector, Start Date, Start Time, End Date, End Time, Total kWh, Site, Model``. Rows are read by
header name. Times are naive Europe/London wall-clock times at minute resolution, read with the
Dundee rules (:mod:`chargegrid.sources.dundee`): an ambiguous start is its first occurrence, a start
in the spring-forward gap takes the offset before the gap, and an end that would precede the start
takes the second occurrence of an ambiguous time (the session crossed the fall-back).

Rules, each with a reason code (every rejection keeps the row exactly as it stood in the file):

* empty End Date/End Time → ``no_end`` (open at export); a ``…/1970`` end → ``sentinel_date``;
  empty kWh → ``energy_missing``; negative kWh → ``energy_negative``; end still before start →
  ``end_before_start``; empty CP ID → ``unknown_charger``; a ``***TEST SITE***`` row (the
  operator's test bench, CP 51517) → ``test_site``; an unreadable date/number → ``unparseable_row``;
* the same (CP, connector, start, end, kWh) seen before, in any file → ``duplicate`` (a
  re-delivered export must not count twice);
* site names differ across years (``"Broxden Park & Ride"`` vs ``"Broxden Park & Ride, Perth"``,
  stray spaces): :func:`site_key` keeps the part before the town and collapses whitespace, so one
  car park is one site. The raw text stays in ``site_label``.

Whether the energy fits the outlet in the time is not judged here (287.71 kWh in 6 minutes on
11/04/2019 is read as published); :attr:`PerthSession.outlet` gives the rating to judge it with.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from chargegrid.errors import ChargegridError
from chargegrid.events import Reason
from chargegrid.sources.dundee import (
    OutletModel,
    Rejected,
    _LineTap,
    _local,
    _resolve_end,
    outlet_model,
)

SOURCE = "perth"
REQUIRED_COLUMNS = (
    "CP ID",
    "Connector",
    "Start Date",
    "Start Time",
    "End Date",
    "End Time",
    "Total kWh",
    "Site",
    "Model",
)

__all__ = [
    "PerthSession",
    "Rejected",
    "SourceFormatError",
    "perth_outlet",
    "read_locations",
    "read_sessions",
    "site_key",
]


class SourceFormatError(ChargegridError):
    """The file is not a Perth & Kinross session export (wrong columns, not UTF-8 text)."""


@dataclass(frozen=True, slots=True)
class PerthSession:
    ref: str  # "perth:<file name>:<line>"
    cp_id: str
    connector_id: int
    start: datetime  # UTC
    end: datetime  # UTC
    energy_wh: int
    site: str  # normalised key, see site_key()
    town: str | None
    site_label: str  # as published
    model: str
    raw: str  # the CSV row as read
    file: str = ""  # name of the export it came from
    line: int = 0  # its line number there

    @property
    def outlet(self) -> OutletModel:
        return perth_outlet(self.model, self.connector_id)


def perth_outlet(model: str, connector_id: int) -> OutletModel:
    """Rated outlet: the Dundee rules, plus Siemens Semi-Rapid posts as 22 kW AC Type 2."""
    if "semi-rapid" in model.lower():
        return OutletModel(22_000.0, "AC", "IEC_62196_T2")
    return outlet_model(model, connector_id)


_SPACES = re.compile(r"\s+")


def site_key(label: str) -> tuple[str, str | None]:
    """``" Broxden Park &  Ride, Perth "`` → ``("Broxden Park & Ride", "Perth")``.

    The town is whatever follows the last comma (``None`` when there is none).
    """
    text = _SPACES.sub(" ", label).strip()
    name, sep, town = text.rpartition(",")
    if not sep:
        return text, None
    return name.strip(), town.strip() or None


def _judge(
    row: dict[str, str], ref: str, raw: str, seen: set[tuple[object, ...]]
) -> PerthSession | Rejected:
    cp_id = (row.get("CP ID") or "").strip()

    def reject(reason: Reason, detail: str) -> Rejected:
        return Rejected(ref, reason, detail, raw, cp_id or None)

    label = row.get("Site") or ""
    if not cp_id:
        return reject(Reason.unknown_charger, "empty CP ID")
    if "TEST SITE" in label.upper():
        return reject(Reason.test_site, f"test site {label.strip()!r}")
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
    energy_wh = round(kwh * 1000)
    key = (cp_id, connector_id, start, end, energy_wh)
    if key in seen:
        return reject(Reason.duplicate, f"CP {cp_id}/{connector_id} at {start.isoformat()} again")
    seen.add(key)
    site, town = site_key(label)
    return PerthSession(
        ref=ref,
        cp_id=cp_id,
        connector_id=connector_id,
        start=start,
        end=end,
        energy_wh=energy_wh,
        site=site,
        town=town,
        site_label=label,
        model=(row.get("Model") or "").strip(),
        raw=raw,
    )


def read_sessions(
    paths: tuple[Path, ...] | list[Path], limit: int | None = None
) -> Iterator[PerthSession | Rejected]:
    """Every data row of the files, in file order, judged; at most ``limit`` rows in all."""
    seen: set[tuple[object, ...]] = set()
    count = 0
    for path in paths:
        with path.open(newline="", encoding="utf-8-sig") as src:
            tap = _LineTap(iter(src))
            reader = csv.reader(tap)
            line_no = 1
            try:
                header = [h.strip() for h in next(reader, [])]
                tap.take()
                missing = [c for c in REQUIRED_COLUMNS if c not in header]
                if missing:
                    msg = f"{path}: not a Perth & Kinross export: no column {', '.join(missing)}"
                    raise SourceFormatError(msg)
                for line_no, cells in enumerate(reader, start=2):
                    raw = tap.take()
                    if limit is not None and count >= limit:
                        return
                    if not any(c.strip() for c in cells):
                        continue
                    count += 1
                    row = dict(zip(header, cells, strict=False))
                    judged = _judge(row, f"{SOURCE}:{path.name}:{line_no}", raw, seen)
                    if isinstance(judged, PerthSession):
                        judged = replace(judged, file=path.name, line=line_no)
                    yield judged
            except UnicodeDecodeError as exc:
                msg = f"{path}: line {line_no + 1} is not UTF-8 text ({exc.reason})"
                raise SourceFormatError(msg) from exc


def read_locations(path: Path) -> dict[str, tuple[float, float]]:
    """``perth_locations.csv`` → ``{site_key: (lat, lon)}``.

    Its keys are ``"Name-Town"`` or bare names, some with stray spaces and repeated: the tail after
    the last ``-`` is dropped when it is one word (``"Rie-Achan Road Car Park-Pitlochry"`` →
    ``"Rie-Achan Road Car Park"``), then whitespace is collapsed. Rows without numbers are skipped.
    """
    out: dict[str, tuple[float, float]] = {}
    with path.open(newline="", encoding="utf-8-sig") as src:
        for row in csv.DictReader(src):
            name = _SPACES.sub(" ", row.get("Site") or "").strip()
            head, sep, tail = name.rpartition("-")
            if sep and tail and " " not in tail.strip():
                name = head.strip()
            try:
                lat, lon = float(row["Latitude"]), float(row["Longitude"])
            except (KeyError, TypeError, ValueError):
                continue
            if name:
                out.setdefault(name, (lat, lon))
    return out
