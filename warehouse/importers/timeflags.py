"""Time flags of imported sessions: published local times that fall in a DST gap or overlap, and
zone labels that contradict the zone's rule. They go into ``imported_sessions.time_flags``
(the readers' resolution rules still decide the UTC instant; the flag says it was a guess).

Flags (a session can carry several):

* ``start_dst_gap`` / ``end_dst_gap``: the published wall time does not exist in the zone (the
  hour skipped when clocks go forward); the reader took the offset before the gap;
* ``start_dst_overlap`` / ``end_dst_overlap``: the wall time happens twice (the hour repeated when
  clocks go back); the reader picked one occurrence;
* ``start_label_contradicts_zone`` / ``end_label_contradicts_zone`` (Boulder): the row's
  ``MST``/``MDT`` label is not the one America/Denver's rule gives for that wall time.

Which zone and columns each source publishes (sources with offsets or GMT times need no flags):
Dundee and Perth ``Start Date``/``Start Time``, ``End Date``/``End Time`` (``dd/mm/yyyy``,
``HH:MM``, Europe/London); Boulder ``Start_Date___Time``/``End_Date___Time`` with
``Start_Time_Zone``/``End_Time_Zone`` (America/Denver).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from chargegrid.sources.records import RawRow, SourceFormatError, csv_rows

LONDON = ZoneInfo("Europe/London")
DENVER = ZoneInfo("America/Denver")
DENVER_LABELS = {"MST": -7, "MDT": -6}  # hours from UTC

FlagsByRow = dict[tuple[str, int], tuple[str, ...]]  # (file name, line) -> flags


def wall_flags(naive: datetime, zone: ZoneInfo) -> tuple[str, ...]:
    """``("dst_gap",)``, ``("dst_overlap",)`` or ``()`` for a naive local wall time."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return ()
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return ("dst_overlap",) if back == naive else ("dst_gap",)


def _parse(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), fmt)  # noqa: DTZ007 - naive local wall time
    except ValueError:
        return None


def _chargeplace(row: RawRow) -> tuple[str, ...]:
    flags: list[str] = []
    for end in ("Start", "End"):
        date_text, time_text = row.cells.get(f"{end} Date", ""), row.cells.get(f"{end} Time", "")
        naive = _parse(f"{date_text} {time_text}", "%d/%m/%Y %H:%M")
        if naive is not None:
            flags += [f"{end.lower()}_{f}" for f in wall_flags(naive, LONDON)]
    return tuple(flags)


def _boulder(row: RawRow) -> tuple[str, ...]:
    flags: list[str] = []
    for end in ("Start", "End"):
        text = row.cells.get(f"{end}_Date___Time", "").strip().removesuffix("+00").strip()
        naive = _parse(text, "%Y/%m/%d %H:%M:%S")
        if naive is None:
            continue
        name = end.lower()
        flags += [f"{name}_{f}" for f in wall_flags(naive, DENVER)]
        label = row.cells.get(f"{end}_Time_Zone", "").strip().upper()
        hours = DENVER_LABELS.get(label)
        # both readings of an overlap are legitimate
        offsets = {naive.replace(tzinfo=DENVER, fold=fold).utcoffset() for fold in (0, 1)}
        rule_hours = {o.total_seconds() / 3600 for o in offsets if o is not None}
        if hours is not None and hours not in rule_hours:
            flags.append(f"{name}_label_contradicts_zone")
    return tuple(flags)


COLUMNS = {
    "dundee": (("Start Date", "Start Time", "End Date", "End Time"), _chargeplace),
    "perth": (("Start Date", "Start Time", "End Date", "End Time"), _chargeplace),
    "boulder": (("Start_Date___Time", "End_Date___Time"), _boulder),
}


def time_flags(source: str, files: list[Path]) -> FlagsByRow:
    """Flags of every flagged data row of ``files`` (empty for sources that need none)."""
    spec: tuple[tuple[str, ...], Callable[[RawRow], tuple[str, ...]]] | None = COLUMNS.get(source)
    if spec is None:
        return {}
    required, judge = spec
    found: FlagsByRow = {}
    for path in files:
        if path.suffix.lower() != ".csv":
            continue
        try:
            rows = list(csv_rows(path, required, f"a {source} export"))
        except SourceFormatError:
            continue  # not a session export (the reader has already judged the file)
        for row in rows:
            flags = judge(row)
            if flags:
                found[(row.file, row.line)] = flags
    return found
