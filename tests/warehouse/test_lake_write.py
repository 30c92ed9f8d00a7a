"""Lake file settings: the rows read back unchanged, with the encodings chosen per column."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse import lake
from warehouse.schema import READINGS


def test_readings_round_trip_with_delta_offsets_and_string_dictionaries(tmp_path: Path) -> None:
    n = 1000
    rows = pa.table(
        {
            "ts": [datetime(2025, 3, 1, tzinfo=UTC)] * n,
            "charger_id": [f"CH{i % 7}" for i in range(n)],
            "connector_id": [1] * n,
            "transaction_id": [None if i % 3 else "T1" for i in range(n)],
            "energy_register_wh": [float(i) for i in range(n)],
            "power_w": [7200.0] * n,
            "current_a": [None] * n,
            "voltage_v": [None] * n,
            "soc_pct": [55.5] * n,
            "context": ["Sample.Periodic"] * n,
            "log_partition": [0] * n,
            "log_offset": list(range(10**9, 10**9 + 2 * n, 2)),
            "log_index": [0] * n,
        },
        schema=READINGS,
    )
    target = tmp_path / "f.parquet"
    lake.write_atomic(rows, target)
    assert pq.read_table(target).equals(rows)
    columns = pq.ParquetFile(target).metadata.row_group(0)
    encodings = {
        columns.column(i).path_in_schema: set(columns.column(i).encodings)
        for i in range(columns.num_columns)
    }
    assert "DELTA_BINARY_PACKED" in encodings["log_offset"]
    assert "RLE_DICTIONARY" in encodings["charger_id"]
    assert "RLE_DICTIONARY" not in encodings["energy_register_wh"]
