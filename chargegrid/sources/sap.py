"""SAP Labs France charging transactions (``conso-ve-sap*.csv``) → :class:`SessionRecord`.

``;``-separated, one row per transaction, times ISO-8601 with their own UTC offset (mixed
+01:00/+02:00 across DST inside one column), energy in Wh, the billed total price in EUR.
Rules, each with a reason code or a flag:

* empty ``Date fin`` or energy → ``no_end`` (transaction open at export);
* unreadable date/number → ``unparseable_row``; a transaction id seen before → ``duplicate``
  (dropped by the importer's natural-key dedupe);
* price: ``Prix total`` (EUR, up to 5 decimals) rounded half-even to cents → ``price_minor``;
* state of charge: start = end = 0 means "unknown", not empty → both ``None``, flag ``soc_unknown``;
  end below start is kept as published, flag ``soc_decreased``;
* charging end = end − idle time (``Duree inactivite totale``); idle time longer than the
  transaction → charging end unknown, flag ``idle_exceeds_duration``;
* rated power: work site 150 kW (the biggest charger there), home wallboxes 22 kW (the publisher's
  ``Infos.txt``): only an upper bound, for the importer's ``energy_exceeds_outlet`` rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

from chargegrid.events import Reason
from chargegrid.sources.records import (
    RawRow,
    RowRejected,
    SessionRecord,
    SourceFormatError,
    csv_rows,
    rejected,
)

SOURCE = "sap"
WORK_MAX_POWER_W = 150_000.0
HOME_MAX_POWER_W = 22_000.0
REQUIRED_COLUMNS = (
    "Type Lieu de charge",
    "ID transaction",
    "ID borne",
    "ID connecteur borne",
    "Date demarrage",
    "Date fin",
    "Consommation totale (Wh)",
)
_CENT = Decimal("0.01")


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        msg = f"time {text!r} has no UTC offset"
        raise ValueError(msg)
    return value.astimezone(UTC)


def _minor(text: str) -> int | None:
    if not text:
        return None
    return int(Decimal(text).quantize(_CENT, rounding=ROUND_HALF_EVEN) * 100)


def _soc(start_text: str, end_text: str) -> tuple[float | None, float | None, tuple[str, ...]]:
    start = float(start_text) if start_text else None
    end = float(end_text) if end_text else None
    if start == 0 and end == 0:
        return None, None, ("soc_unknown",)
    if start is not None and end is not None and end < start:
        return start, end, ("soc_decreased",)
    return start, end, ()


def _charging_end(
    row: RawRow, start: datetime, end: datetime
) -> tuple[datetime | None, tuple[str, ...]]:
    idle_text = row.get("Duree inactivite totale (s)")
    if not idle_text:
        return None, ()
    idle = timedelta(seconds=float(idle_text))
    if idle > end - start:
        return None, ("idle_exceeds_duration",)
    return end - idle, ()


def _record(row: RawRow) -> SessionRecord | RowRejected:
    station = row.get("ID borne")
    end_text, wh_text = row.get("Date fin"), row.get("Consommation totale (Wh)")
    if not end_text or not wh_text:
        return rejected(SOURCE, row, Reason.no_end, "no Date fin / energy: open at export", station)
    try:
        start, end = _aware(row.get("Date demarrage")), _aware(end_text)
        energy_wh = round(float(wh_text))
        price_minor = _minor(row.get("Prix total"))
        soc_start, soc_end, soc_flags = _soc(
            row.get("Charge batterie demarrage (%)"), row.get("Charge batterie fin (%)")
        )
        charging_end, idle_flags = _charging_end(row, start, end)
    except (ValueError, InvalidOperation) as exc:
        return rejected(SOURCE, row, Reason.unparseable_row, f"unreadable field: {exc}", station)
    home = row.get("Type Lieu de charge") == "Domicile"
    return SessionRecord(
        source=SOURCE,
        key=row.get("ID transaction"),
        station_id=station,
        started_at=start,
        ended_at=end,
        energy_wh=energy_wh,
        file=row.file,
        line=row.line,
        raw=row.raw,
        site="home" if home else "work",
        connector=row.get("ID connecteur borne") or None,
        charging_ended_at=charging_end,
        price_minor=price_minor,
        currency=(row.get("Devise prix total") or None) if price_minor is not None else None,
        soc_start_pct=soc_start,
        soc_end_pct=soc_end,
        rated_power_w=HOME_MAX_POWER_W if home else WORK_MAX_POWER_W,
        flags=soc_flags + idle_flags,
    )


def read_sessions(paths: list[Path]) -> Iterator[SessionRecord | RowRejected]:
    """Every data row of the files, in file order, as a record or a rejection."""
    for path in paths:
        for row in csv_rows(path, REQUIRED_COLUMNS, "a SAP Labs France transaction export"):
            if not row.get("ID transaction"):
                yield rejected(SOURCE, row, Reason.unparseable_row, "empty ID transaction")
                continue
            yield _record(row)


__all__ = ["SOURCE", "SourceFormatError", "read_sessions"]
