"""Derived catalog views for analysts and reports: sessions of every source in one shape, the
ports they use, port outages, and per-port utilisation in 15-minute and hourly slots.

All views are SQL over the lake's views (``sessions``, ``readings``, ``connector_status``,
``connectors``, ``historical_sessions``) and the materialised tables of
:mod:`warehouse.materialize`: closed pipeline days and imported sources are read from
``<lake>/_derived`` (per-session facts, per-port slots), every other day is computed live with the
same SQL, so live pipeline data and imported history answer alike. Time is bucketed in UTC
whatever the reader's ``TimeZone`` setting: timestamps are turned into naive UTC wall time
(``AT TIME ZONE 'UTC'``) before bucketing and back into ``TIMESTAMP WITH TIME ZONE`` on the way
out.

Rules (documented column by column in :mod:`warehouse.dictionary`):

* ``session_spans``: one row per session. ``source`` is ``pipeline`` or ``import:<source>``;
  ``port_id`` is ``<station_id>/<connector>``; pipeline stations are chargers, their site is the
  inventory station. ``charging_ended_at``: what imported sources publish, and for pipeline
  sessions the lake's own column when it has one.
* ``session_facts``: ``session_spans`` plus, for pipeline sessions, the charging end: the lake's
  ``charging_ended_at`` when set, else read from the meter: the last reading of the transaction
  with ``power_w > 0`` (the session start when no reading drew power; NULL when the transaction
  has no reading at all, i.e. unknown); and ``start_succeeded`` (the transaction delivered at
  least one meter reading). The meter is read once per closed day (materialised).
* ``ports``: every port a report counts as available: the inventory's connectors (available
  throughout) and every port seen in sessions but not in the inventory (available from the UTC day
  of its first plug-in to the end of the UTC day of its last plug-out).
* ``port_outages``: merged intervals in which a pipeline port was ``Faulted`` or ``Unavailable``
  (its own status, or its charger's connector 0); ``ended_at`` NULL = still out.
* ``utilisation_15m`` / ``utilisation_hourly``: per port and slot, plugged-in minutes, energy
  (spread evenly over the charging interval: plug-in to charging end when known, else to plug-out)
  and sessions started in the slot.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warehouse.materialize import Materialised

SLOT_VIEWS = {"utilisation_15m": "slots_15m", "utilisation_hourly": "slots_hourly"}  # view: table
SLOT_WIDTHS = {"slots_15m": "15 minutes", "slots_hourly": "1 hour"}
OUTAGE_STATUSES = ("Faulted", "Unavailable")


def naive(column: str) -> str:
    """SQL: a ``TIMESTAMP WITH TIME ZONE`` as naive UTC wall time. Same value as
    ``AT TIME ZONE 'UTC'`` but without ICU calendars (~5x cheaper per row, measured)."""
    return f"make_timestamp(epoch_us({column}))"


def overlap_s(a_start: str, a_end: str, b_start: str, b_end: str) -> str:
    """SQL: seconds two naive-timestamp intervals overlap (0 when disjoint)."""
    return f"greatest(0, epoch(least({a_end}, {b_end})) - epoch(greatest({a_start}, {b_start})))"


SITES_CTE = (
    "sites AS (SELECT charger_id, min(station_id) AS station_id FROM connectors "
    "GROUP BY charger_id)"
)

IMPORTED_SPANS = """
SELECT
    'import:' || source AS source,
    session_id,
    coalesce(site_id, station_id) AS site_id,
    station_id,
    station_id || '/' || coalesce(connector, '') AS port_id,
    started_at,
    ended_at,
    charging_ended_at,
    CAST(energy_wh AS DOUBLE) AS energy_wh,
    price_minor,
    currency
FROM {relation}
"""


def session_spans_sql(lake_charging_end: bool) -> str:
    """``session_spans``; ``lake_charging_end``: the lake's ``sessions`` has the column."""
    charging_end = "s.charging_ended_at" if lake_charging_end else "NULL"
    imported = IMPORTED_SPANS.format(relation="historical_sessions")
    return f"""
CREATE OR REPLACE VIEW session_spans AS
WITH {SITES_CTE}
SELECT
    'pipeline' AS source,
    s.session_id,
    coalesce(sites.station_id, s.charger_id) AS site_id,
    s.charger_id AS station_id,
    s.charger_id || '/' || s.connector_id AS port_id,
    s.started_at,
    s.ended_at,
    CAST({charging_end} AS TIMESTAMP WITH TIME ZONE) AS charging_ended_at,
    CAST(s.energy_wh AS DOUBLE) AS energy_wh,
    CAST(NULL AS BIGINT) AS price_minor,
    CAST(NULL AS VARCHAR) AS currency,
    s.transaction_id,
    s.readings
FROM sessions s LEFT JOIN sites ON sites.charger_id = s.charger_id
UNION ALL
SELECT *, CAST(NULL AS VARCHAR), CAST(NULL AS BIGINT) FROM ({imported})
"""


def pipeline_facts_sql(sessions: str, readings: str, lake_charging_end: bool) -> str:
    """Per pipeline session (the ``FACTS`` columns of :mod:`warehouse.derived_schema`): the
    charging end is the lake's ``charging_ended_at`` when set, else the last reading of the
    transaction with ``power_w > 0`` (the start when none drew power; NULL without readings),
    clamped to [start, end]. ``sessions``/``readings``: relations (SQL) to read them from."""
    lake = "s.charging_ended_at" if lake_charging_end else "NULL"
    return f"""
SELECT
    s.session_id,
    s.charger_id AS station_id,
    s.charger_id || '/' || s.connector_id AS port_id,
    s.transaction_id,
    s.started_at,
    s.ended_at,
    CAST(CASE
        WHEN {lake} IS NOT NULL THEN least(greatest({lake}, s.started_at), s.ended_at)
        WHEN m.charger_id IS NULL THEN NULL
        ELSE least(greatest(coalesce(m.last_power_at, s.started_at), s.started_at), s.ended_at)
    END AS TIMESTAMP WITH TIME ZONE) AS charging_ended_at,
    CAST(s.energy_wh AS DOUBLE) AS energy_wh,
    coalesce(s.readings, 0) > 0 AS start_succeeded
FROM ({sessions}) s
LEFT JOIN (
    SELECT charger_id, transaction_id, max(ts) FILTER (WHERE power_w > 0) AS last_power_at
    FROM ({readings}) WHERE transaction_id IS NOT NULL
    GROUP BY charger_id, transaction_id
) m ON m.charger_id = s.charger_id AND m.transaction_id = s.transaction_id
"""


def session_facts_sql(m: Materialised) -> str:
    """``session_facts``: materialised pipeline facts of the dates :class:`Materialised` lists,
    the same facts computed live for every other date, and imported spans."""
    imported = IMPORTED_SPANS.format(relation="historical_sessions")
    return f"""
CREATE OR REPLACE VIEW session_facts AS
WITH {SITES_CTE}, pipeline AS (
    {m.facts_sql()}
), facts AS (
    SELECT
        'pipeline' AS source, p.session_id,
        coalesce(sites.station_id, p.station_id) AS site_id,
        p.station_id, p.port_id, p.started_at, p.ended_at, p.charging_ended_at, p.energy_wh,
        CAST(NULL AS BIGINT) AS price_minor, CAST(NULL AS VARCHAR) AS currency,
        p.start_succeeded
    FROM pipeline p LEFT JOIN sites ON sites.charger_id = p.station_id
    UNION ALL
    SELECT *, CAST(NULL AS BOOLEAN) FROM ({imported})
)
SELECT *, (epoch(ended_at) - epoch(charging_ended_at)) / 60.0 AS idle_after_full_min
FROM facts
"""


PORTS = """
CREATE OR REPLACE VIEW ports AS
WITH inventory AS (
    SELECT 'pipeline' AS source, station_id AS site_id, charger_id AS station_id,
        charger_id || '/' || connector_id AS port_id
    FROM connectors
), seen AS (
    SELECT source, min(site_id) AS site_id, min(station_id) AS station_id, port_id,
        CAST(time_bucket(INTERVAL 1 day, min(started_at) AT TIME ZONE 'UTC')
            AS TIMESTAMP) AT TIME ZONE 'UTC' AS available_from,
        CAST(time_bucket(INTERVAL 1 day, max(coalesce(ended_at, started_at)) AT TIME ZONE 'UTC')
            + INTERVAL 1 day AS TIMESTAMP) AT TIME ZONE 'UTC' AS available_until
    FROM session_spans GROUP BY source, port_id
)
SELECT source, site_id, station_id, port_id,
    CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS available_from,
    CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS available_until
FROM inventory
UNION ALL
SELECT seen.* FROM seen ANTI JOIN inventory USING (source, port_id)
"""

PORT_OUTAGES = f"""
CREATE OR REPLACE VIEW port_outages AS
WITH status AS (
    SELECT charger_id, connector_id, ts, status,
        lead(ts) OVER (PARTITION BY charger_id, connector_id ORDER BY ts) AS next_ts
    FROM connector_status WHERE kind = 'status'
), outage AS (
    SELECT charger_id, connector_id, ts AS s, coalesce(next_ts, 'infinity') AS e
    FROM status WHERE status IN {OUTAGE_STATUSES!r}
), per_port AS (
    SELECT charger_id || '/' || connector_id AS port_id, s, e FROM outage WHERE connector_id <> 0
    UNION ALL
    SELECT p.port_id, o.s, o.e FROM outage o
    JOIN ports p ON p.source = 'pipeline' AND p.station_id = o.charger_id
    WHERE o.connector_id = 0
), ordered AS (
    SELECT port_id, s, e,
        max(e) OVER (PARTITION BY port_id ORDER BY s, e
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM per_port
), islands AS (
    SELECT port_id, s, e,
        sum(CASE WHEN reach >= s THEN 0 ELSE 1 END) OVER (PARTITION BY port_id ORDER BY s, e)
            AS island
    FROM ordered
)
SELECT port_id, min(s) AS started_at,
    CASE WHEN isinf(max(e)) THEN NULL ELSE max(e) END AS ended_at
FROM islands GROUP BY port_id, island
"""


def slot_rows_sql(width: str, spans: str) -> str:
    """Per ``source, site_id, station_id, port_id`` and slot of ``width``: plugged-in seconds,
    energy (spread evenly from plug-in to the charging end, else to plug-out) and sessions
    started. ``spans``: a relation with those keys and ``started_at``, ``ended_at``,
    ``charging_ended_at``, ``energy_wh`` (the ``SLOTS`` columns of
    :mod:`warehouse.derived_schema`)."""
    w = f"INTERVAL {width}"
    slot_end = f"(slot + {w})"
    occupied = overlap_s("slot", slot_end, "s", "e")
    charging = overlap_s("slot", slot_end, "s", "ce")
    first = f"slot = time_bucket({w}, s)"
    return f"""
SELECT source, site_id, station_id, port_id,
    slot AT TIME ZONE 'UTC' AS slot_start,
    CAST(sum({occupied}) AS DOUBLE) AS occupied_s,
    CAST(sum(CASE WHEN ce > s THEN energy_wh * {charging} / (epoch(ce) - epoch(s))
             WHEN {first} THEN energy_wh ELSE 0 END) AS DOUBLE) AS energy_wh,
    count(*) FILTER (WHERE {first}) AS sessions_started
FROM (
    SELECT *, unnest(generate_series(time_bucket({w}, s), e, {w})) AS slot
    FROM (
        SELECT source, site_id, station_id, port_id, energy_wh,
            {naive("started_at")} AS s,
            {naive("ended_at")} AS e,
            {naive("least(greatest(coalesce(charging_ended_at, ended_at), started_at), ended_at)")}
                AS ce
        FROM ({spans}) WHERE ended_at >= started_at
    )
)
WHERE slot < e OR {first}
GROUP BY source, site_id, station_id, port_id, slot
"""


def pipeline_spans_sql(facts: str) -> str:
    """Pipeline facts as the spans :func:`slot_rows_sql` reads (site joined when read)."""
    return f"""
SELECT 'pipeline' AS source, CAST(NULL AS VARCHAR) AS site_id, station_id, port_id,
    started_at, ended_at, charging_ended_at, energy_wh FROM ({facts})
"""


def slot_view_sql(view: str, table: str, m: Materialised) -> str:
    """``utilisation_15m`` / ``utilisation_hourly``: one row per port and slot, summed over the
    materialised slot rows (pipeline dates and imported sources) and the live pipeline dates."""
    live = slot_rows_sql(SLOT_WIDTHS[table], pipeline_spans_sql(m.live_facts_sql()))
    return f"""
CREATE OR REPLACE VIEW {view} AS
WITH {SITES_CTE}, slot_rows AS (
    {m.slots_sql(table)}
    UNION ALL
    {live}
)
SELECT r.source,
    CASE WHEN r.source = 'pipeline' THEN coalesce(sites.station_id, r.station_id)
        ELSE r.site_id END AS site_id,
    r.station_id, r.port_id, r.slot_start,
    sum(r.occupied_s) / 60.0 AS occupied_min,
    sum(r.energy_wh) AS energy_wh,
    CAST(sum(r.sessions_started) AS BIGINT) AS sessions_started
FROM slot_rows r LEFT JOIN sites ON r.source = 'pipeline' AND sites.charger_id = r.station_id
GROUP BY r.source, r.station_id, r.port_id, r.slot_start, sites.station_id, r.site_id
"""


def view_sql(m: Materialised) -> list[str]:
    """The ``CREATE VIEW`` statements, in dependency order (after the lake's own views)."""
    slot_views = [slot_view_sql(view, table, m) for view, table in SLOT_VIEWS.items()]
    return [
        session_spans_sql(m.lake_charging_end),
        session_facts_sql(m),
        PORTS,
        PORT_OUTAGES,
        *slot_views,
    ]


def catalog_sql(reference_dir: Path, m: Materialised) -> list[str]:
    """Everything the catalog adds after the lake's views: the derived views above and the
    ``data_dictionary`` view (its Parquet written into ``reference_dir``)."""
    from warehouse import dictionary

    path = str(dictionary.write_parquet(reference_dir).resolve()).replace("'", "''")
    return [
        *view_sql(m),
        f"CREATE OR REPLACE VIEW data_dictionary AS SELECT * FROM read_parquet('{path}')",
    ]
