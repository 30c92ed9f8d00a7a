"""What every historical-session reader yields, and the CSV reading they share.

A reader turns one published file into :class:`SessionRecord` (a parsed session, not yet judged
for plausibility) or :class:`RowRejected` (a row that could not become a session, with a
:class:`~chargegrid.events.Reason`). Every data row of a file yields exactly one of the two, so
rows read = sessions + rejections. Plausibility rules common to all sources (zero duration, zero
energy, energy the outlet cannot deliver) are applied by the importer, not here.

CSV rules shared by the readers (:func:`csv_rows`):

* a UTF-8 byte-order mark is dropped (``utf-8-sig``); text that is not UTF-8 is a
  :class:`SourceFormatError` naming the file and line;
* the separator is whichever of ``,`` ``;`` or tab splits the header into the most fields
  (SAP exports use ``;``);
* rows are read by header name; cells beyond the header (ragged rows, Dundee's trailing notes)
  are ignored, and a row shorter than the header simply lacks those columns;
* blank rows are skipped and not counted; quoted newlines stay inside one row, whose ``line`` is
  the file line it starts on and whose ``raw`` is its exact text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from chargegrid.errors import ChargegridError
from chargegrid.events import Reason

SEPARATORS = (",", ";", "\t")


class SourceFormatError(ChargegridError):
    """The file is not an export of the expected source (columns, encoding, structure)."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One historical charging session as published, in our units.

    Times are tz-aware UTC; energy in Wh; price in minor units of ``currency``; state of charge in
    percent (``None`` when the source does not know it). ``rated_power_w`` is the most the outlet
    can deliver (``None`` if unknown); ``flags`` name every rule that changed or doubted a value.
    """

    source: str
    key: str  # natural key inside the source (session id, or a hash of the identifying fields)
    station_id: str
    started_at: datetime
    ended_at: datetime
    energy_wh: int
    file: str
    line: int
    raw: str
    site: str | None = None
    connector: str | None = None
    charging_ended_at: datetime | None = None
    price_minor: int | None = None
    currency: str | None = None
    user_id: str | None = None
    soc_start_pct: float | None = None
    soc_end_pct: float | None = None
    rated_power_w: float | None = None
    flags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class RowRejected:
    """A row that is not a usable session: why (``reason``, ``detail``) and exactly what it was."""

    source: str
    file: str
    line: int
    reason: Reason
    detail: str
    raw: str
    station_id: str | None = None


@dataclass(frozen=True, slots=True)
class StationRecord:
    """A charging station (or charge point) with where it is and what it offers.

    Port counts by power level as published (``None`` when unknown); ``max_power_w`` is the
    fastest outlet's rating in W when the source states or implies it; ``power_level`` is the
    highest level present (``Level 1`` / ``Level 2`` / ``DC fast``).
    """

    source: str
    station_id: str
    name: str
    lat: float | None
    lon: float | None
    file: str
    line: int
    site: str | None = None
    address: str | None = None
    city: str | None = None
    connectors: int | None = None
    level1_ports: int | None = None
    level2_ports: int | None = None
    dc_fast_ports: int | None = None
    max_power_w: float | None = None
    power_level: str | None = None
    connector_types: str | None = None
    network: str | None = None


@dataclass(frozen=True, slots=True)
class RawRow:
    """One CSV data row by header name, with where it came from and its exact text."""

    file: str
    line: int
    cells: dict[str, str]
    raw: str

    def get(self, column: str) -> str:
        """The cell stripped of surrounding spaces; ``""`` when the row lacks the column."""
        return (self.cells.get(column) or "").strip()


class _LineTap:
    """Feeds lines to ``csv.reader`` and remembers the text of the row it just read."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._taken: list[str] = []
        self.lines_read = 0

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._taken.append(line)
        self.lines_read += 1
        return line

    @property
    def row_start(self) -> int:
        """0-based index (among lines fed) of the first line of the row being taken."""
        return self.lines_read - len(self._taken)

    def take(self) -> str:
        text = "".join(self._taken).rstrip("\r\n")
        self._taken.clear()
        return text


def sniff_separator(header_line: str) -> str:
    """The separator that splits ``header_line`` into the most fields (``,`` on a tie)."""
    return max(SEPARATORS, key=lambda sep: (header_line.count(sep), sep == ","))


def _utf8_lines(path: Path) -> Iterator[str]:
    """The file's lines as text (line ends kept, a leading BOM dropped), decoded one by one so
    an encoding error names its own line."""
    with path.open("rb") as src:
        for number, data in enumerate(src, start=1):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                msg = f"{path}: line {number} is not UTF-8 text ({exc.reason})"
                raise SourceFormatError(msg) from exc
            yield text.removeprefix("\ufeff") if number == 1 else text


def csv_rows(path: Path, required: Iterable[str], what: str) -> Iterator[RawRow]:
    """Data rows of a CSV export (rules in the module docstring).

    Raises :class:`SourceFormatError` if a ``required`` column is missing (``what`` names the
    expected export in the message) or a line is not UTF-8 text.
    """
    lines = _utf8_lines(path)
    first = next(lines, "")
    separator = sniff_separator(first)
    header = [name.strip() for name in next(csv.reader([first], delimiter=separator), [])]
    missing = [name for name in required if name not in header]
    if missing:
        msg = f"{path}: not {what}: no column {', '.join(missing)}"
        raise SourceFormatError(msg)
    tap = _LineTap(lines)
    for cells in csv.reader(tap, delimiter=separator):
        line_no = 2 + tap.row_start
        raw = tap.take()
        if any(c.strip() for c in cells):
            yield RawRow(path.name, line_no, dict(zip(header, cells, strict=False)), raw)


def rejected(
    source: str, row: RawRow, reason: Reason, detail: str, station: str = ""
) -> RowRejected:
    """A :class:`RowRejected` for a CSV row."""
    return RowRejected(source, row.file, row.line, reason, detail, row.raw, station or None)
