"""Per-batch checks of meter readings that need no transaction state, vectorised with polars.

Rules (a reading = a ``meter_value`` record; starts and stops are not judged here):

* ``unknown_charger`` / ``unknown_connector``: the inventory (``Settings.inventory_path``) does not
  list the charger, or lists it without that connector. Connector 0 (the charger as a whole) is
  always known. Applied only when the inventory lists at least one charger: an estate without an
  inventory file (tests, ad-hoc publishing) accepts every charger. The file is re-read when its
  modification time changes, so chargers added while the pipeline runs are picked up.
* ``implausible_value``: ``power_w`` above the connector's rating times ``power_tolerance``.
* ``future_timestamp``: ``ts`` later than the pipeline clock plus ``max_skew_s``.
* Readings hours *behind* the clock (buffered by a charger that was offline) are accepted as they
  are: their event time places them in the right window, and the utilisation views recompute, so
  late data corrects closed windows instead of vanishing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from chargegrid.events import Reason
from chargegrid.inventory import Inventory, load_inventory
from chargegrid.settings import Settings


@dataclass(frozen=True, slots=True)
class Rules:
    """The judgement calls of the pipeline's rules, as settings (``CHARGEGRID_*``, see
    :class:`chargegrid.settings.Settings`)."""

    max_skew_s: float = 300.0  # a charger clock may run this far ahead of ours
    power_tolerance: float = 1.1  # meters and ratings disagree by a few percent; 10 % is bad
    reset_fraction: float = 0.5  # a register below this share of its last value restarted
    charging_power_w: float = 100.0  # above a trickle: charging, not idle after full
    offline_after_s: float = 660.0  # silent longer than this (2 missed heartbeats + 1 min): offline

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(
            settings.max_clock_skew_s,
            settings.power_tolerance,
            settings.register_reset_fraction,
            settings.charging_power_w,
            settings.offline_after_s,
        )


@dataclass
class InventoryWatch:
    """The inventory, re-read when the file changes (``None`` path: no inventory checks)."""

    path: Path | None
    _mtime_ns: int | None = None
    _inventory: Inventory = field(default_factory=Inventory)

    def current(self) -> Inventory:
        if self.path is None:
            return self._inventory
        try:
            mtime_ns = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._mtime_ns, self._inventory = None, Inventory()
            return self._inventory
        if mtime_ns != self._mtime_ns:
            self._inventory = load_inventory(self.path)
            self._mtime_ns = mtime_ns
        return self._inventory


def ratings_frame(inventory: Inventory) -> pl.DataFrame:
    """``(charger_id, connector_id, max_power_w)`` of every connector, plus connector 0 (no
    rating) of every charger."""
    rows: list[tuple[str, int, float | None]] = [
        (charger.charger_id, c.connector_id, c.max_power_w)
        for charger in inventory.chargers
        for c in charger.connectors
    ]
    rows += [(charger.charger_id, 0, None) for charger in inventory.chargers]
    return pl.DataFrame(
        rows,
        schema={"charger_id": pl.String, "connector_id": pl.Int64, "_rating_w": pl.Float64},
        orient="row",
    )


@dataclass(frozen=True, slots=True)
class Verdicts:
    """Offsets of readings to dead-letter, each with its reason and a detail."""

    rows: list[tuple[int, Reason, str, str | None]]  # offset, reason, detail, charger_id


def screen(good: pl.DataFrame, inventory: Inventory, now: datetime, rules: Rules) -> Verdicts:
    """The readings of ``good`` (a parsed meter batch) that break a rule above."""
    readings = good.filter(pl.col("kind") == "meter_value").select(
        "offset", "ts", "charger_id", "connector_id", "power_w"
    )
    if not readings.height:
        return Verdicts([])
    limit = now + timedelta(seconds=rules.max_skew_s)
    future = pl.col("ts") > pl.lit(limit)
    reason: pl.Expr
    if not inventory.chargers:
        reason = pl.when(future).then(pl.lit(Reason.future_timestamp.value))
    else:
        readings = readings.join(
            ratings_frame(inventory).with_columns(pl.lit(True).alias("_known")),
            on=["charger_id", "connector_id"],
            how="left",
        ).join(
            pl.DataFrame(
                {"charger_id": [c.charger_id for c in inventory.chargers]},
                schema={"charger_id": pl.String},
            ).with_columns(pl.lit(True).alias("_charger")),
            on="charger_id",
            how="left",
        )
        reason = (
            pl.when(future)
            .then(pl.lit(Reason.future_timestamp.value))
            .when(pl.col("_charger").is_null())
            .then(pl.lit(Reason.unknown_charger.value))
            .when(pl.col("_known").is_null())
            .then(pl.lit(Reason.unknown_connector.value))
            .when(pl.col("power_w") > pl.col("_rating_w") * rules.power_tolerance)
            .then(pl.lit(Reason.implausible_value.value))
        )
    judged = readings.with_columns(reason.alias("_reason")).filter(pl.col("_reason").is_not_null())
    return Verdicts(
        [
            (offset, Reason(r), _detail(Reason(r), row, rules), charger)
            for offset, r, charger, row in zip(
                judged.get_column("offset"),
                judged.get_column("_reason"),
                judged.get_column("charger_id"),
                judged.iter_rows(named=True),
                strict=True,
            )
        ]
    )


def _detail(reason: Reason, row: dict[str, object], rules: Rules) -> str:
    if reason is Reason.future_timestamp:
        return f"ts {row['ts']} is ahead of the pipeline clock by more than the tolerated skew"
    if reason is Reason.unknown_charger:
        return f"charger {row['charger_id']} is not in the inventory"
    if reason is Reason.unknown_connector:
        return f"connector {row['connector_id']} of {row['charger_id']} is not in the inventory"
    return (
        f"power_w={row['power_w']} is above {rules.power_tolerance} x the connector's "
        f"rating of {row.get('_rating_w')} W"
    )
