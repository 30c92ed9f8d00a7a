"""Views over the stream's utilisation windows (``utilisation_windows``, see pipeline/windows.py).

A window's value is the SUM of its partial rows, so these views always reflect late data.

* ``windows_15m`` / ``windows_hourly``: per connector (connector 0 = the charger as a whole:
  offline time, charger-wide faults) and window, minutes occupied, charging, idle after full,
  faulted and offline; energy, sessions started and revenue.
* ``station_windows_hourly``: per station and hour, the same summed over its ports, with
  ``outage_min`` (each port's own fault minutes plus, for every port of a charger, the charger's
  fault and offline minutes) and ``uptime_pct`` = 100 x (1 - outage / (ports x 60)).
"""

from __future__ import annotations

SUMS = """
    sum(occupied_s) / 60 AS occupied_min, sum(charging_s) / 60 AS charging_min,
    sum(idle_after_full_s) / 60 AS idle_after_full_min, sum(faulted_s) / 60 AS faulted_min,
    sum(offline_s) / 60 AS offline_min, sum(energy_wh) AS energy_wh,
    sum(sessions_started) AS sessions_started, sum(revenue_minor) AS revenue_minor,
    any_value(currency) AS currency
"""


def windows_sql() -> list[str]:
    return [
        f"""CREATE OR REPLACE VIEW windows_15m AS
SELECT window_start, charger_id, connector_id, {SUMS}
FROM utilisation_windows GROUP BY window_start, charger_id, connector_id""",
        f"""CREATE OR REPLACE VIEW windows_hourly AS
SELECT date_trunc('hour', window_start) AS window_start, charger_id, connector_id, {SUMS}
FROM utilisation_windows GROUP BY ALL""",
        """CREATE OR REPLACE VIEW station_windows_hourly AS
WITH ports AS (
    SELECT station_id, charger_id, count(*) AS ports FROM connectors GROUP BY ALL
), per_charger AS (
    SELECT w.window_start, w.charger_id,
        sum(w.occupied_min) AS occupied_min, sum(w.charging_min) AS charging_min,
        sum(w.idle_after_full_min) AS idle_after_full_min, sum(w.energy_wh) AS energy_wh,
        sum(w.sessions_started) AS sessions_started, sum(w.revenue_minor) AS revenue_minor,
        any_value(w.currency) AS currency,
        sum(CASE WHEN w.connector_id <> 0 THEN w.faulted_min ELSE 0 END) AS port_fault_min,
        sum(CASE WHEN w.connector_id = 0 THEN w.faulted_min + w.offline_min ELSE 0 END)
            AS charger_out_min
    FROM windows_hourly w GROUP BY ALL
)
SELECT c.window_start, p.station_id, sum(p.ports) AS ports,
    sum(c.occupied_min) AS occupied_min, sum(c.charging_min) AS charging_min,
    sum(c.idle_after_full_min) AS idle_after_full_min, sum(c.energy_wh) AS energy_wh,
    sum(c.sessions_started) AS sessions_started, sum(c.revenue_minor) AS revenue_minor,
    any_value(c.currency) AS currency,
    sum(least(c.port_fault_min + p.ports * c.charger_out_min, p.ports * 60)) AS outage_min,
    100 * (1 - sum(least(c.port_fault_min + p.ports * c.charger_out_min, p.ports * 60))
        / (sum(p.ports) * 60)) AS uptime_pct
FROM per_charger c JOIN ports p USING (charger_id)
GROUP BY ALL""",
    ]
