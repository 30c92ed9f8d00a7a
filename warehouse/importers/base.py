"""The small interface each source's importer module fills in, and helpers they share."""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chargegrid.sources.records import RowRejected, SessionRecord, SourceFormatError, StationRecord

Item = SessionRecord | StationRecord | RowRejected


def _no_stations(files: list[Path], sessions: list[SessionRecord]) -> list[StationRecord]:
    return []


@dataclass(frozen=True)
class SourceImporter:
    """How to import one source.

    ``read`` turns the files into items (one per data row, in file order); ``stations`` derives the
    source's stations from the files' folders and the imported sessions; ``patterns`` select the
    export files when a folder is given instead of files.
    """

    source: str
    read: Callable[[list[Path]], Iterator[Item]]
    patterns: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    stations: Callable[[list[Path], list[SessionRecord]], list[StationRecord]] = field(
        default=_no_stations
    )

    def files(self, paths: Iterable[Path]) -> list[Path]:
        """The export files: given files as they are, folders expanded by pattern; sorted by name
        (so the order on the command line never changes which copy of a duplicate is kept)."""
        found: set[Path] = set()
        for path in paths:
            if path.is_dir():
                found.update(p for p in path.iterdir() if p.is_file() and self._wanted(p.name))
            elif path.is_file():
                found.add(path)
            else:
                msg = f"{path}: no such file or folder"
                raise SourceFormatError(msg)
        if not found:
            msg = f"no {self.source} export files in {', '.join(str(p) for p in paths)}"
            raise SourceFormatError(msg)
        return sorted(found, key=lambda p: (p.name, str(p)))

    def _wanted(self, name: str) -> bool:
        lower = name.lower()
        return any(fnmatch.fnmatch(lower, pat) for pat in self.patterns) and not any(
            fnmatch.fnmatch(lower, pat) for pat in self.excluded
        )


def beside(files: list[Path], *names: str) -> Path | None:
    """The first of ``names`` found in the folders of ``files``."""
    for name in names:
        for folder in sorted({p.parent for p in files}):
            if (folder / name).is_file():
                return folder / name
    return None


def session_stations(
    sessions: list[SessionRecord],
    locate: Callable[[SessionRecord], tuple[float | None, float | None, str | None]],
) -> list[StationRecord]:
    """One station per ``station_id`` seen in ``sessions``: connectors = distinct connectors seen,
    ``max_power_w`` = highest outlet rating; ``locate`` gives (lat, lon, address) of the latest
    session's row (chargers that moved are where they were last)."""
    by_station: dict[str, list[SessionRecord]] = defaultdict(list)
    for session in sessions:
        by_station[session.station_id].append(session)
    out = []
    for station_id, rows in sorted(by_station.items()):
        latest = max(rows, key=lambda s: (s.started_at, s.file, s.line))
        lat, lon, address = locate(latest)
        ratings = [s.rated_power_w for s in rows if s.rated_power_w is not None]
        out.append(
            StationRecord(
                source=latest.source,
                station_id=station_id,
                name=station_id,
                lat=lat,
                lon=lon,
                file=latest.file,
                line=latest.line,
                site=latest.site,
                address=address,
                connectors=len({s.connector for s in rows if s.connector is not None}) or None,
                max_power_w=max(ratings) if ratings else None,
            )
        )
    return out
