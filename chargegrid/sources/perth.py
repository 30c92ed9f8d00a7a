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

from chargegrid.events import Reason
from chargegrid.sources.dundee import OutletModel, Rejected, judge_chargeplace, outlet_model
from chargegrid.sources.records import RawRow, SourceFormatError, csv_rows

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


def _judge(row: RawRow, ref: str, seen: set[tuple[object, ...]]) -> PerthSession | Rejected:
    cp_id = row.get("CP ID")

    def reject(reason: Reason, detail: str) -> Rejected:
        return Rejected(ref, reason, detail, row.raw, cp_id or None)

    judged = judge_chargeplace(row.cells, reject)
    if isinstance(judged, Rejected):
        return judged
    key = (judged.cp_id, judged.connector_id, judged.start, judged.end, judged.energy_wh)
    if key in seen:
        what = f"CP {judged.cp_id}/{judged.connector_id} at {judged.start.isoformat()}"
        return reject(Reason.duplicate, f"{what} again")
    seen.add(key)
    label = row.cells.get("Site") or ""
    site, town = site_key(label)
    return PerthSession(
        ref=ref,
        cp_id=judged.cp_id,
        connector_id=judged.connector_id,
        start=judged.start,
        end=judged.end,
        energy_wh=judged.energy_wh,
        site=site,
        town=town,
        site_label=label,
        model=row.get("Model"),
        raw=row.raw,
    )


def read_sessions(
    paths: tuple[Path, ...] | list[Path], limit: int | None = None
) -> Iterator[PerthSession | Rejected]:
    """Every data row of the files, in file order, judged; at most ``limit`` rows in all."""
    seen: set[tuple[object, ...]] = set()
    count = 0
    for path in paths:
        for row in csv_rows(path, REQUIRED_COLUMNS, "a Perth & Kinross export"):
            if limit is not None and count >= limit:
                return
            count += 1
            judged = _judge(row, f"{SOURCE}:{path.name}:{row.line}", seen)
            yield replace(judged, file=row.file, line=row.line)


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
