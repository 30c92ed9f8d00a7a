"""Caltech ACN-Data session JSON → :class:`SessionRecord`.

Accepted shapes: the API/website export ``{"_meta": {...}, "_items": [...]}`` and a bare JSON
array of the same items. Each item carries ``sessionID``, ``siteID``, ``stationID``, ``spaceID``,
``connectionTime``, ``disconnectTime``, ``doneChargingTime`` (nullable), ``kWhDelivered``,
``timezone``, ``userID`` (nullable) and ``userInputs`` (nullable); timestamps are RFC 1123 strings
in GMT (``"Wed, 25 Apr 2018 11:08:04 GMT"``), i.e. absolute UTC times whatever ``timezone`` says
(that field names the site's local zone and is not applied). Rules:

* an item that is not an object, or lacks/mistypes a field → ``unparseable_row`` naming the field;
* ``disconnectTime`` null → ``no_end``; ``kWhDelivered`` null → ``energy_missing``;
* ``doneChargingTime`` null → charging end unknown; after the disconnect → the disconnect,
  flag ``done_after_disconnect``; before the connection → unknown, flag ``done_before_connect``;
* the natural key is ``sessionID``: the same session in several files is imported once (the
  importer's dedupe rejects later copies as ``duplicate``);
* rated power 19.2 kW (the Level-2 ceiling, 80 A at 240 V): the ACN's EVSEs are Level 2 and the
  export does not carry per-station ratings, so this is an upper bound only.

``line`` of a record is the item's 1-based position in its file; ``raw`` the item as compact JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from chargegrid.events import Reason
from chargegrid.sources.records import RowRejected, SessionRecord, SourceFormatError

SOURCE = "acn"
LEVEL2_MAX_POWER_W = 19_200.0


def _rfc1123(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError) as exc:
            msg = f"not an RFC 1123 time: {value!r}"
            raise ValueError(msg) from exc
        if parsed.tzinfo is None:
            msg = f"RFC 1123 time without zone: {value!r}"
            raise ValueError(msg)
        return parsed.astimezone(UTC)
    return value


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Rfc1123 = Annotated[datetime, BeforeValidator(_rfc1123)]
IdText = Annotated[str, BeforeValidator(_text)]


class AcnSession(BaseModel):
    """One ACN-Data session item, typed (unknown extra fields such as ``_id`` are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sessionID: IdText
    siteID: IdText
    stationID: IdText
    spaceID: IdText | None = None
    connectionTime: Rfc1123
    disconnectTime: Rfc1123 | None
    doneChargingTime: Rfc1123 | None = None
    kWhDelivered: float | None
    timezone: str | None = None
    userID: IdText | None = None
    userInputs: list[dict[str, Any]] | None = None


def _items(path: Path) -> list[Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text ({exc.reason})"
        raise SourceFormatError(msg) from exc
    except json.JSONDecodeError as exc:
        msg = f"{path}: line {exc.lineno}: not JSON ({exc.msg})"
        raise SourceFormatError(msg) from exc
    if isinstance(document, dict) and isinstance(document.get("_items"), list):
        return document["_items"]
    if isinstance(document, list):
        return document
    msg = f"{path}: not an ACN-Data session export: expected {{'_meta', '_items'}} or a JSON array"
    raise SourceFormatError(msg)


def _charging_end(item: AcnSession, end: datetime) -> tuple[datetime | None, tuple[str, ...]]:
    done = item.doneChargingTime
    if done is None:
        return None, ()
    if done > end:
        return end, ("done_after_disconnect",)
    if done < item.connectionTime:
        return None, ("done_before_connect",)
    return done, ()


def _record(value: Any, file: str, line: int) -> SessionRecord | RowRejected:
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    station = value.get("stationID") if isinstance(value, dict) else None

    def reject(reason: Reason, detail: str) -> RowRejected:
        return RowRejected(SOURCE, file, line, reason, detail, raw, str(station or "") or None)

    try:
        item = AcnSession.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "item"
        return reject(Reason.unparseable_row, f"{where}: {first['msg']}")
    if item.disconnectTime is None:
        return reject(Reason.no_end, "disconnectTime is null: session open at export")
    if item.kWhDelivered is None:
        return reject(Reason.energy_missing, "kWhDelivered is null")
    charging_end, flags = _charging_end(item, item.disconnectTime)
    return SessionRecord(
        source=SOURCE,
        key=item.sessionID,
        station_id=item.stationID,
        started_at=item.connectionTime,
        ended_at=item.disconnectTime,
        energy_wh=round(item.kWhDelivered * 1000),
        file=file,
        line=line,
        raw=raw,
        site=item.siteID,
        connector=item.spaceID,
        charging_ended_at=charging_end,
        user_id=item.userID,
        rated_power_w=LEVEL2_MAX_POWER_W,
        flags=flags,
    )


def read_sessions(paths: list[Path]) -> Iterator[SessionRecord | RowRejected]:
    """Every item of the files, in file order, as a record or a rejection."""
    for path in paths:
        for line, value in enumerate(_items(path), start=1):
            yield _record(value, path.name, line)
