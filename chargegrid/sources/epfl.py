"""EPFL DESL Level-3 (CCS DC fast) session table (``Session_data.xlsx``) → :class:`SessionRecord`.

One sheet, one row per session. Rules:

* ``Arrival``/``Departure`` are naive Europe/Zurich wall-clock datetimes (minute resolution): an
  ambiguous time (the repeated hour in October) is read as its first occurrence; a departure that
  would then precede the arrival takes the second occurrence (the session crossed the fall-back);
* energy ``Energy (Wh)`` rounded to whole Wh; ``SOC arrival``/``SOC departure`` in percent;
  connector = the ``CCS`` plug (``CCS1``/``CCS2``);
* rated power 172.5 kW (the station's rating), for the importer's ``energy_exceeds_outlet`` rule;
  ``Pmax (W)`` above it is flagged ``pmax_above_rating``;
* battery estimates above 150 kWh (vans/trucks or estimation error) are kept, flagged
  ``large_battery``;
* an empty or unreadable cell → ``unparseable_row`` naming the column; empty ``Departure`` →
  ``no_end``.

The row's ``raw`` is its cells joined by tabs (there is no text line in an xlsx).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zipfile import BadZipFile
from zoneinfo import ZoneInfo

from chargegrid.events import Reason
from chargegrid.sources.records import RowRejected, SessionRecord, SourceFormatError

SOURCE = "epfl"
ZURICH = ZoneInfo("Europe/Zurich")
STATION_ID = "EPFL-DESL-L3"
RATED_POWER_W = 172_500.0
LARGE_BATTERY_WH = 150_000.0
REQUIRED_COLUMNS = ("Session", "CCS", "Arrival", "Departure", "Energy (Wh)")


def _local(value: Any, fold: int) -> datetime:
    if not isinstance(value, datetime):
        msg = f"{value!r} is not a date and time"
        raise ValueError(msg)
    return value.replace(tzinfo=ZURICH, fold=fold).astimezone(UTC)


def _number(value: Any, column: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{column} {value!r} is not a number"
        raise ValueError(msg)
    return float(value)


def _record(cells: dict[str, Any], file: str, line: int, raw: str) -> SessionRecord | RowRejected:
    def reject(reason: Reason, detail: str) -> RowRejected:
        return RowRejected(SOURCE, file, line, reason, detail, raw, STATION_ID)

    if cells.get("Departure") in (None, ""):
        return reject(Reason.no_end, "empty Departure")
    try:
        start = _local(cells.get("Arrival"), 0)
        end = _local(cells.get("Departure"), 0)
        if end < start:
            end = max(end, _local(cells.get("Departure"), 1))
        energy = _number(cells.get("Energy (Wh)"), "Energy (Wh)")
        if energy is None:
            return reject(Reason.energy_missing, "empty Energy (Wh)")
        pmax = _number(cells.get("Pmax (W)"), "Pmax (W)")
        battery = _number(cells.get("Energy capacity (Wh)"), "Energy capacity (Wh)")
        soc_start = _number(cells.get("SOC arrival"), "SOC arrival")
        soc_end = _number(cells.get("SOC departure"), "SOC departure")
        session = int(cells["Session"])
    except (KeyError, TypeError, ValueError) as exc:
        return reject(Reason.unparseable_row, f"unreadable cell: {exc}")
    flags = []
    if pmax is not None and pmax > RATED_POWER_W:
        flags.append("pmax_above_rating")
    if battery is not None and battery > LARGE_BATTERY_WH:
        flags.append("large_battery")
    return SessionRecord(
        source=SOURCE,
        key=str(session),
        station_id=STATION_ID,
        started_at=start,
        ended_at=end,
        energy_wh=round(energy),
        file=file,
        line=line,
        raw=raw,
        site="EPFL DESL",
        connector=str(cells.get("CCS") or "") or None,
        soc_start_pct=soc_start,
        soc_end_pct=soc_end,
        rated_power_w=RATED_POWER_W,
        flags=tuple(flags),
    )


def _sheet_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, OSError, KeyError, ValueError) as exc:
        msg = f"{path}: not an xlsx workbook ({exc})"
        raise SourceFormatError(msg) from exc
    try:
        yield from book.worksheets[0].iter_rows(values_only=True)
    finally:
        book.close()


def read_sessions(paths: list[Path]) -> Iterator[SessionRecord | RowRejected]:
    """Every data row of the workbooks' first sheet, as a record or a rejection."""
    for path in paths:
        rows = _sheet_rows(path)
        header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            msg = f"{path}: not an EPFL DESL session table: no column {', '.join(missing)}"
            raise SourceFormatError(msg)
        for line, values in enumerate(rows, start=2):
            if all(v is None or v == "" for v in values):
                continue
            raw = "\t".join("" if v is None else str(v) for v in values)
            yield _record(dict(zip(header, values, strict=False)), path.name, line, raw)
