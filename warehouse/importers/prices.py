"""``chargegrid import entsoe PATH...``: wholesale day-ahead prices into the catalog's ``prices``.

Files are read with :func:`chargegrid.sources.entsoe.load_entsoe_prices` (its rules: DST gaps and
repeats, ``n/e`` holes, ragged rows, currency from the header); the bidding zone comes from the
header's ``BZN|<zone>`` column name. Rows are keyed by ``(zone, started_at)`` and merged into what
the source already holds: a file imported again adds nothing, an overlapping export adds only
its new intervals, and an interval whose price changed takes the newer file's price (counted as
``replaced``). Layout: ``<lake>/imported_prices/source=<source>/data.parquet`` (one file per
source, rewritten atomically, rows sorted).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from chargegrid.errors import ChargegridError
from chargegrid.settings import Settings
from chargegrid.sources.entsoe import load_entsoe_prices
from chargegrid.tariffs import CURRENCY_EXPONENT
from warehouse import lake
from warehouse.reference_schema import PRICES

PRICE_SOURCES = ("entsoe",)
TABLE = "imported_prices"
DATA_FILE = "data.parquet"
SCHEMA_PARTITION = "source=_schema"
US = 1_000_000


class PriceImportError(ChargegridError):
    """A price export that cannot be imported (the message names the file)."""


@dataclass
class PriceImportReport:
    source: str
    files: list[str]
    intervals_read: int = 0
    added: int = 0
    unchanged: int = 0  # already held with the same price
    replaced: int = 0  # already held, the newer file's price differs
    intervals_held: int = 0
    zones: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"import {self.source}: {len(self.files)} file(s)",
            f"intervals read: {self.intervals_read:,}",
            f"added: {self.added:,}",
            f"already held (no-op): {self.unchanged:,}",
            f"replaced (price changed): {self.replaced:,}",
            f"intervals in lake: {self.intervals_held:,} ({', '.join(self.zones) or '-'})",
        ]


def _zone(path: Path) -> str:
    with path.open(encoding="utf-8-sig", newline="") as src:
        header = next(csv.reader(src), [])
    names = [h.split("|", 1)[1] for h in header[2:] if "|" in h]
    return names[0] if names else ""


def price_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        msg = f"no ENTSO-E .csv exports in {', '.join(map(str, paths))}"
        raise PriceImportError(msg)
    return files


def read_prices(source: str, path: Path) -> list[dict[str, Any]]:
    series = load_entsoe_prices(path)
    scale = 10 ** (CURRENCY_EXPONENT[series.currency] + 3)  # µminor/kWh per currency/MWh
    zone = _zone(path)
    return [
        {
            "source": source,
            "zone": zone,
            "started_at": pa.scalar(int(s), pa.timestamp("us", tz="UTC")).as_py(),
            "ended_at": pa.scalar(int(e), pa.timestamp("us", tz="UTC")).as_py(),
            "price_micro_minor_per_kwh": int(p),
            "price_per_mwh": int(p) / scale,
            "currency": series.currency,
            "file": path.name,
        }
        for s, e, p in zip(
            series.start_us, series.end_us, series.price_micro_minor_per_kwh, strict=True
        )
    ]


def ensure_price_table(lake_dir: Path) -> None:
    target = lake_dir / TABLE / SCHEMA_PARTITION / lake.SCHEMA_FILE
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        lake.write_atomic(PRICES.empty_table(), target)


def prices_view_sql(lake_dir: Path) -> str:
    ensure_price_table(lake_dir)
    glob = str(lake_dir.resolve() / TABLE / "source=*" / "*.parquet").replace("'", "''")
    return (
        f"CREATE OR REPLACE VIEW prices AS SELECT {', '.join(PRICES.names)} FROM "
        f"read_parquet('{glob}', hive_partitioning = false, union_by_name = true)"
    )


def run_price_import(settings: Settings, source: str, paths: list[Path]) -> PriceImportReport:
    """Merge the price exports ``paths`` into ``source``'s prices (see the module docstring)."""
    if source not in PRICE_SOURCES:
        msg = f"unknown price source {source!r}: expected one of {', '.join(PRICE_SOURCES)}"
        raise PriceImportError(msg)
    files = price_files(paths)
    report = PriceImportReport(source, [f.name for f in files])
    ensure_price_table(settings.lake_dir)
    target = settings.lake_dir / TABLE / f"source={source}" / DATA_FILE
    held: dict[tuple[str, Any], dict[str, Any]] = {}
    if target.exists():
        held = {(r["zone"], r["started_at"]): r for r in pq.read_table(target).to_pylist()}
    for path in files:
        for row in read_prices(source, path):
            report.intervals_read += 1
            key = (row["zone"], row["started_at"])
            old = held.get(key)
            if old is None:
                report.added += 1
            elif old["price_micro_minor_per_kwh"] == row["price_micro_minor_per_kwh"]:
                report.unchanged += 1
                continue
            else:
                report.replaced += 1
            held[key] = row
    if report.added or report.replaced or not target.exists():
        rows = [held[k] for k in sorted(held)]
        target.parent.mkdir(parents=True, exist_ok=True)
        lake.write_atomic(pa.Table.from_pylist(rows, PRICES), target)
    report.intervals_held = len(held)
    report.zones = sorted({zone for zone, _ in held})
    from warehouse.catalog import refresh_catalog

    refresh_catalog(settings)
    return report
