"""Derive synthetic-city parameters from real public charging sessions.

``python -m models.calibrate ../shared/data -o data/city/params.json`` reads the Dundee City
Council and Perth & Kinross Council session exports (see ``shared/data/SOURCES.md``), drops bad rows
by explicit rules, and writes per-charger-class statistics — never the data itself — as a small,
deterministic JSON file (sorted keys, rounded numbers). The same file is written to
``models/city_params.json``, the copy shipped inside the package that
:func:`models.city.load_params` reads by default.

Rows are read by header name with the ``csv`` module (CRLF, quoted commas in ``Site``, a UTF-8 BOM
and the unnamed trailing columns of the June–September Dundee file are all harmless that way).
Times are naive Europe/London wall-clock times: hour-of-day profiles use them as they are; plug-in
durations use UTC instants (an end before its start is retried as the second occurrence of an
ambiguous fall-back time). Each row is kept or excluded by the *first* rule that matches, in the
order of :data:`RULES`; params.json records how many rows each rule excluded, per file.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import re
import shutil
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from chargegrid.errors import ChargegridError

LONDON = ZoneInfo("Europe/London")
PACKAGED_COPY = Path(__file__).with_name("city_params.json")

#: knots (probabilities) of every empirical quantile table in params.json
QUANTILE_KNOTS: tuple[float, ...] = (
    0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0,
)  # fmt: skip
#: energy is tabulated conditional on duration, in bins between these duration quantiles
DURATION_BIN_KNOTS: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
#: plug-in periods (local hours [from, to)) for which duration is tabulated separately
PERIODS: tuple[tuple[str, int, int], ...] = (
    ("night", 0, 6),
    ("morning", 6, 12),
    ("afternoon", 12, 18),
    ("evening", 18, 24),
)

MIN_DURATION_MIN = 2.0  # shorter plug-ins: minute resolution makes the implied power meaningless
MAX_DURATION_H = 48.0  # longer ones: abandoned vehicles or a missed stop
MIN_ENERGY_KWH = 0.1  # less: a failed start, nothing was charged
ENERGY_TOLERANCE = 1.05  # energy may exceed rated power x (duration + 1 min) by this factor
TEST_SITE_MARK = "TEST SITE"


class CalibrationError(ChargegridError):
    """An input file is missing, or a dataset leaves no usable sessions."""


class ChargerClass(StrEnum):
    slow = "slow"  # ~7 kW AC
    fast = "fast"  # ~22 kW AC
    rapid = "rapid"  # ~50 kW DC


@dataclass(frozen=True, slots=True)
class ClassSpec:
    rated_w: float
    current: str


CLASS_SPECS: dict[ChargerClass, ClassSpec] = {
    ChargerClass.slow: ClassSpec(7_400.0, "AC"),  # "7 kW" = 32 A single phase
    ChargerClass.fast: ClassSpec(22_000.0, "AC"),
    ChargerClass.rapid: ClassSpec(50_000.0, "DC"),
}

#: every ``Model`` string seen in the Dundee and Perth exports → charger class
MODEL_CLASSES: dict[str, ChargerClass] = {
    "APT 7kW Dual Outlet": ChargerClass.slow,
    "APT 7kW Single Outlet": ChargerClass.slow,
    "Siemens 7 kW Dual Outlet": ChargerClass.slow,
    "APT 22kW Dual Outlet": ChargerClass.fast,
    "APT 22kW Raption": ChargerClass.fast,
    "Siemens Semi-Rapid": ChargerClass.fast,
    "APT 50kW Raption": ChargerClass.rapid,
    "APT Dual Rapid Charger": ChargerClass.rapid,
    "APT Triple Rapid Charger": ChargerClass.rapid,
    "Siemens Triple Rapid Charger": ChargerClass.rapid,
}


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    folder: str
    files: tuple[str, ...]
    licence: str
    publisher: str
    attribution: str


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        name="dundee",
        folder="dundee",
        files=(
            "cpdata.csv",
            "cp-data-dec-mar-2018.csv",
            "cp-data-mar-may-2018.csv",
            "charge-sessions-june-sept.csv",
        ),
        licence="Open Government Licence v3.0 (UK)",
        publisher="Dundee City Council, 'Electric Vehicle Charging Sessions Dundee'",
        attribution="Contains information from Dundee City Council licensed under the "
        "Open Government Licence v3.0",
    ),
    Dataset(
        name="perth_kinross",
        folder="perth_kinross",
        files=(
            "electricvehiclechargecorrected.csv",
            "sept17toaug18standardisedcorrected.csv",
            "sept18toaug19standardisedcorrected.csv",
        ),
        licence="Open Government Licence v3.0 (UK)",
        publisher="Perth & Kinross Council, 'Electric Vehicle Charging Station Usage'",
        attribution="Contains information from Perth & Kinross Council licensed under the "
        "Open Government Licence v3.0",
    ),
)
LOCATIONS_FILE = ("dundee", "cp-locations_enriched.csv")


class Rule(StrEnum):
    """Why a row is excluded, checked in this order (the first match wins)."""

    test_site = "test_site"  # Site names a test installation
    unknown_charger = "unknown_charger"  # empty CP ID
    unknown_model = "unknown_model"  # Model not in MODEL_CLASSES
    unparseable = "unparseable"  # start date/time, connector or kWh unreadable
    open_session = "open_session"  # empty end date/time or kWh: still plugged in at export
    sentinel_end = "sentinel_end"  # end date in 1970: "unknown end"
    duplicate = "duplicate"  # same event number, or same charger/connector/start/end/kWh
    end_before_start = "end_before_start"  # even as the second occurrence of a fall-back time
    zero_length = "zero_length"  # end == start
    too_short = "too_short"  # under MIN_DURATION_MIN
    too_long = "too_long"  # over MAX_DURATION_H
    zero_energy = "zero_energy"  # under MIN_ENERGY_KWH
    impossible_energy = "impossible_energy"  # more than the outlet can deliver in the time


RULES: tuple[Rule, ...] = tuple(Rule)


@dataclass(frozen=True, slots=True)
class Session:
    """One kept row: what the statistics are computed from."""

    dataset: str
    cp_id: str
    connector: int
    cls: ChargerClass
    start_local: datetime  # naive Europe/London wall-clock time
    duration_min: float
    energy_kwh: float


def to_utc(local: datetime, fold: int = 0) -> datetime:
    """A naive Europe/London wall-clock time as a UTC instant (``fold=1``: second occurrence)."""
    return local.replace(tzinfo=LONDON, fold=fold).astimezone(UTC)


def _parse_local(day: str, hhmm: str) -> datetime:
    return datetime.strptime(f"{day.strip()} {hhmm.strip()}", "%d/%m/%Y %H:%M")  # noqa: DTZ007


class RowFilter:
    """Applies :data:`RULES` to raw rows of one dataset; remembers keys to find duplicates."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self._seen: set[tuple[str, ...]] = set()

    def check(self, row: dict[str, str]) -> Session | Rule:
        """The kept session, or the first rule the row breaks."""
        site = row.get("Site") or ""
        cp_id = (row.get("CP ID") or "").strip()
        model = (row.get("Model") or "").strip()
        if TEST_SITE_MARK in site.upper():
            return Rule.test_site
        if not cp_id:
            return Rule.unknown_charger
        cls = MODEL_CLASSES.get(model)
        if cls is None:
            return Rule.unknown_model
        try:
            start = _parse_local(row["Start Date"], row["Start Time"])
            connector = int(row["Connector"])
        except (KeyError, ValueError):
            return Rule.unparseable
        end_day, end_time, kwh_text = (
            (row.get(k) or "").strip() for k in ("End Date", "End Time", "Total kWh")
        )
        if not (end_day and end_time and kwh_text):
            return Rule.open_session
        try:
            end = _parse_local(end_day, end_time)
            kwh = float(kwh_text)
        except ValueError:
            return Rule.unparseable
        if end.year == 1970:
            return Rule.sentinel_end
        return self._check_session(row, cp_id, connector, cls, start, end, kwh)

    def _check_session(
        self,
        row: dict[str, str],
        cp_id: str,
        connector: int,
        cls: ChargerClass,
        start: datetime,
        end: datetime,
        kwh: float,
    ) -> Session | Rule:
        event = (row.get("Charging event") or "").strip()
        key = (event,) if event else (cp_id, str(connector), str(start), str(end), str(kwh))
        if key in self._seen:
            return Rule.duplicate
        self._seen.add(key)
        minutes = plug_in_minutes(start, end)
        rule = _duration_rule(minutes)
        if rule is None:
            rule = _energy_rule(kwh, minutes, CLASS_SPECS[cls].rated_w)
        if rule is not None:
            return rule
        return Session(self.dataset, cp_id, connector, cls, start, minutes, kwh)


def plug_in_minutes(start: datetime, end: datetime) -> float:
    """Minutes between two naive London times; an end that precedes the start as its first
    occurrence is read as the second occurrence of the repeated fall-back hour."""
    begin = to_utc(start)
    finish = to_utc(end)
    if finish < begin:
        finish = to_utc(end, fold=1)
    return (finish - begin).total_seconds() / 60.0


def _duration_rule(minutes: float) -> Rule | None:
    if minutes < 0:
        return Rule.end_before_start
    if minutes == 0:
        return Rule.zero_length
    if minutes < MIN_DURATION_MIN:
        return Rule.too_short
    if minutes > MAX_DURATION_H * 60:
        return Rule.too_long
    return None


def _energy_rule(kwh: float, minutes: float, rated_w: float) -> Rule | None:
    if kwh < MIN_ENERGY_KWH:
        return Rule.zero_energy
    if kwh * 1000.0 > rated_w * (minutes + 1.0) / 60.0 * ENERGY_TOLERANCE:
        return Rule.impossible_energy
    return None


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """Rows of one export as ``{header: value}`` (BOM stripped, CRLF and quoting handled)."""
    if not path.is_file():
        msg = f"{path}: input file not found (expected the shared/data layout, see SOURCES.md)"
        raise CalibrationError(msg)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        yield from csv.DictReader(fh)


@dataclass
class FileReport:
    file: str
    sha256: str
    rows: int
    kept: int
    excluded: Counter[str]


def filter_file(path: Path, row_filter: RowFilter) -> tuple[list[Session], FileReport]:
    kept: list[Session] = []
    excluded: Counter[str] = Counter()
    rows = 0
    for row in read_rows(path):
        rows += 1
        result = row_filter.check(row)
        if isinstance(result, Rule):
            excluded[result.value] += 1
        else:
            kept.append(result)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return kept, FileReport(path.name, digest, rows, len(kept), excluded)


# ---------------------------------------------------------------- statistics


def quantiles(
    values: list[float], digits: int = 3, knots: tuple[float, ...] = QUANTILE_KNOTS
) -> list[float]:
    """Empirical quantiles of ``values`` at ``knots`` (linear interpolation)."""
    ordered = sorted(values)
    last = len(ordered) - 1
    out = []
    for q in knots:
        pos = q * last
        lo = math.floor(pos)
        hi = min(lo + 1, last)
        value = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
        out.append(round(value, digits))
    return out


def lognormal_fit(values: list[float]) -> dict[str, float]:
    logs = [math.log(v) for v in values]
    return {"mu": round(statistics.fmean(logs), 4), "sigma": round(statistics.pstdev(logs), 4)}


def period_of(hour: int) -> str:
    return next(name for name, lo, hi in PERIODS if lo <= hour < hi)


def is_weekend(day: date) -> bool:
    return day.weekday() >= 5


def connector_days(sessions: list[Session]) -> dict[ChargerClass, dict[str, int]]:
    """Per class, connector-days in service (first to last kept session) by day type."""
    spans: dict[tuple[str, str, int], tuple[ChargerClass, date, date]] = {}
    for s in sessions:
        key = (s.dataset, s.cp_id, s.connector)
        day = s.start_local.date()
        cls, first, last = spans.get(key, (s.cls, day, day))
        spans[key] = (cls, min(first, day), max(last, day))
    out: dict[ChargerClass, dict[str, int]] = defaultdict(lambda: {"weekday": 0, "weekend": 0})
    for cls, first, last in spans.values():
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            out[cls]["weekend" if is_weekend(day) else "weekday"] += 1
    return out


def arrival_rates(sessions: list[Session], days: dict[str, int]) -> dict[str, list[float]]:
    """Kept plug-ins per connector per hour, by local hour of day, for weekdays and weekends."""
    counts = {"weekday": [0] * 24, "weekend": [0] * 24}
    for s in sessions:
        kind = "weekend" if is_weekend(s.start_local.date()) else "weekday"
        counts[kind][s.start_local.hour] += 1
    return {
        kind: [round(n / max(days[kind], 1), 5) for n in hourly] for kind, hourly in counts.items()
    }


def occupancy(sessions: list[Session], days: dict[str, int]) -> dict[str, list[float]]:
    """Mean fraction of each local clock hour a connector is plugged in, by day type."""
    busy_min = {"weekday": [0.0] * 24, "weekend": [0.0] * 24}
    for s in sessions:
        at = s.start_local
        left = s.duration_min
        while left > 0:
            kind = "weekend" if is_weekend(at.date()) else "weekday"
            next_hour = at.replace(minute=0, second=0) + timedelta(hours=1)
            step = min(left, (next_hour - at).total_seconds() / 60.0)
            busy_min[kind][at.hour] += step
            left -= step
            at = next_hour
    return {
        kind: [round(min(1.0, m / 60.0 / max(days[kind], 1)), 4) for m in hourly]
        for kind, hourly in busy_min.items()
    }


def class_stats(sessions: list[Session], days: dict[str, int]) -> dict[str, object]:
    durations = [s.duration_min for s in sessions]
    energies = [s.energy_kwh for s in sessions]
    bin_edges = quantiles(durations, 1, DURATION_BIN_KNOTS)
    return {
        "sessions": len(sessions),
        "connector_days": days,
        "arrivals_per_connector_hour": arrival_rates(sessions, days),
        "occupancy": occupancy(sessions, days),
        "duration_min": {
            "median": round(statistics.median(durations), 1),
            "quantiles": quantiles(durations, 1),
            "by_period": {
                name: quantiles(
                    [s.duration_min for s in sessions if lo <= s.start_local.hour < hi]
                    or durations,
                    1,
                )
                for name, lo, hi in PERIODS
            },
            "lognormal": lognormal_fit(durations),
        },
        "energy_kwh": {
            "median": round(statistics.median(energies), 2),
            "quantiles": quantiles(energies),
            "lognormal": lognormal_fit(energies),
            "by_duration": energy_by_duration(sessions, bin_edges),
        },
    }


def energy_by_duration(sessions: list[Session], edges: list[float]) -> dict[str, object]:
    """Energy quantiles per plug-in duration bin ``[edges[i], edges[i+1])`` (an empty bin —
    only in tiny inputs — takes the class's overall energies)."""
    bins: list[list[float]] = [[] for _ in range(len(edges) - 1)]
    for s in sessions:
        index = sum(1 for edge in edges[1:-1] if s.duration_min >= edge)
        bins[index].append(s.energy_kwh)
    everything = [s.energy_kwh for s in sessions]
    return {
        "duration_edges_min": edges,
        "energy_quantiles": [quantiles(b or everything) for b in bins],
    }


def connector_counts(sessions: list[Session]) -> dict[str, dict[str, int]]:
    """Per class, how many chargers expose 1, 2, 3 ... connectors (from the kept rows)."""
    seen: dict[tuple[str, str], tuple[ChargerClass, set[int]]] = {}
    for s in sessions:
        cls, connectors = seen.setdefault((s.dataset, s.cp_id), (s.cls, set()))
        connectors.add(s.connector)
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for cls, connectors in seen.values():
        out[cls.value][str(len(connectors))] += 1
    return {cls: dict(sorted(c.items())) for cls, c in sorted(out.items())}


def class_mix(sessions: list[Session], dataset: str) -> dict[str, float]:
    chargers = {(s.cp_id, s.cls) for s in sessions if s.dataset == dataset}
    counts = Counter(cls.value for _, cls in chargers)
    total = sum(counts.values())
    return {cls.value: round(counts[cls.value] / total, 4) for cls in ChargerClass}


def site_layout(path: Path) -> dict[str, object]:
    """Dundee sites: chargers per site, and distance (km) of each site from their centroid."""
    sites: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in read_rows(path):
        name = (row.get("Location") or "").strip()
        try:
            sites[name].append((float(row["Latitude"]), float(row["Longitude"])))
        except (KeyError, ValueError):
            continue
    centres = [
        (statistics.fmean(p[0] for p in pts), statistics.fmean(p[1] for p in pts))
        for pts in sites.values()
    ]
    lat0 = statistics.fmean(c[0] for c in centres)
    lon0 = statistics.fmean(c[1] for c in centres)
    distances = [haversine_km((lat0, lon0), c) for c in centres]
    per_site = Counter(str(len(pts)) for pts in sites.values())
    return {
        "sites": len(sites),
        "charge_points": sum(len(p) for p in sites.values()),
        "centroid": [round(lat0, 4), round(lon0, 4)],
        "chargers_per_site": dict(sorted(per_site.items(), key=lambda kv: int(kv[0]))),
        "radius_km_quantiles": quantiles(distances, 2),
    }


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


#: authored (not in the session data, which has no vehicle fields): vehicle mix of the city
VEHICLES: dict[str, object] = {
    "source": "authored: typical UK EV fleet, not derived from the session data",
    "ac_onboard_kw": {"7.4": 0.5, "11": 0.35, "22": 0.15},
    "dc_max_kw": {"50": 0.25, "100": 0.35, "150": 0.4},
    "battery_kwh": {"40": 0.2, "60": 0.35, "77": 0.3, "100": 0.15},
}


def calibrate(data_dir: Path) -> dict[str, object]:
    """The whole params document for the real data under ``data_dir`` (``shared/data``)."""
    sessions: list[Session] = []
    provenance = []
    for ds in DATASETS:
        row_filter = RowFilter(ds.name)
        reports = []
        for name in ds.files:
            kept, report = filter_file(data_dir / ds.folder / name, row_filter)
            sessions.extend(kept)
            reports.append(report)
        provenance.append(_provenance(ds, reports, [s for s in sessions if s.dataset == ds.name]))
    days = connector_days(sessions)
    by_class: dict[ChargerClass, list[Session]] = defaultdict(list)
    for s in sessions:
        by_class[s.cls].append(s)
    return {
        "schema_version": 1,
        "generated_by": "python -m models.calibrate <shared/data>",
        "quantile_knots": list(QUANTILE_KNOTS),
        "duration_periods": {name: [lo, hi] for name, lo, hi in PERIODS},
        "rules": _rules_doc(),
        "provenance": provenance,
        "sessions_used": len(sessions),
        "classes": {
            cls.value: {
                "rated_w": CLASS_SPECS[cls].rated_w,
                "current": CLASS_SPECS[cls].current,
                "models": sorted(m for m, c in MODEL_CLASSES.items() if c is cls),
                **class_stats(by_class[cls], days[cls]),
            }
            for cls in ChargerClass
        },
        "connectors_per_charger": connector_counts(sessions),
        "class_mix": {ds.name: class_mix(sessions, ds.name) for ds in DATASETS},
        "sites": site_layout(data_dir.joinpath(*LOCATIONS_FILE)),
        "vehicles": VEHICLES,
    }


def _provenance(ds: Dataset, reports: list[FileReport], kept: list[Session]) -> dict[str, object]:
    excluded: Counter[str] = Counter()
    for r in reports:
        excluded.update(r.excluded)
    starts = [s.start_local for s in kept]
    if not starts:
        msg = f"{ds.folder}: no usable sessions in {', '.join(ds.files)} ({dict(excluded)})"
        raise CalibrationError(msg)
    return {
        "dataset": ds.name,
        "publisher": ds.publisher,
        "licence": ds.licence,
        "attribution": ds.attribution,
        "rows": sum(r.rows for r in reports),
        "kept": len(kept),
        "excluded": dict(sorted(excluded.items())),
        "first_plug_in_local": min(starts).isoformat(timespec="minutes"),
        "last_plug_in_local": max(starts).isoformat(timespec="minutes"),
        "files": [
            {
                "file": f"{ds.folder}/{r.file}",
                "sha256": r.sha256,
                "rows": r.rows,
                "kept": r.kept,
                "excluded": dict(sorted(r.excluded.items())),
            }
            for r in reports
        ],
    }


def _rules_doc() -> dict[str, str]:
    return {
        "order": ", ".join(RULES),
        "too_short": f"plug-in < {MIN_DURATION_MIN:g} min",
        "too_long": f"plug-in > {MAX_DURATION_H:g} h",
        "zero_energy": f"energy < {MIN_ENERGY_KWH:g} kWh",
        "impossible_energy": f"energy > rated power x (minutes + 1) x {ENERGY_TOLERANCE:g}",
        "durations": "UTC instants from naive Europe/London times (fall-back retried as fold=1)",
        "arrivals": "kept plug-ins per connector-day in service (first..last kept session)",
    }


_NUMBER_LIST = re.compile(r"\[[-0-9.,\s]*\]")


def render(params: dict[str, object]) -> str:
    """Stable JSON: sorted keys, one line per list of numbers (readable diffs, a few KB)."""
    text = json.dumps(params, indent=1, sort_keys=True, ensure_ascii=False)
    return (
        _NUMBER_LIST.sub(lambda m: re.sub(r"\s+", "", m.group(0)).replace(",", ", "), text) + "\n"
    )


def write(params: dict[str, object], targets: Iterable[Path]) -> None:
    text = render(params)
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        shutil.move(tmp, target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.calibrate", description=__doc__)
    parser.add_argument("data_dir", type=Path, help="the shared/data folder")
    parser.add_argument("-o", "--output", type=Path, default=Path("data/city/params.json"))
    parser.add_argument(
        "--no-package-copy",
        action="store_true",
        help=f"do not also refresh {PACKAGED_COPY.name} inside the package",
    )
    args = parser.parse_args(argv)
    try:
        params = calibrate(args.data_dir)
    except CalibrationError as exc:
        parser.exit(2, f"error: {exc}\n")
    targets = [args.output] if args.no_package_copy else [args.output, PACKAGED_COPY]
    write(params, targets)
    print(f"{params['sessions_used']} sessions -> {', '.join(map(str, targets))}")


if __name__ == "__main__":
    main()
