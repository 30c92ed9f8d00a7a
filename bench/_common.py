"""One JSON line per measured figure, appended to var/bench/results.jsonl and printed."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(os.environ.get("CHARGEGRID_DATA_DIR", "var")) / "bench" / "results.jsonl"


def emit(
    bench: str,
    metric: str,
    value: float,
    unit: str,
    *,
    target: str | None = None,
    meets: bool | None = None,
    **extra: object,
) -> dict[str, object]:
    """Record one figure in the format DESIGN.md fixes, so runs can be compared."""
    record: dict[str, object] = {
        "bench": bench,
        "metric": metric,
        "value": value,
        "unit": unit,
        "target": target,
        "meets": meets,
        "machine": {"cores": os.cpu_count()},
        "at": datetime.now(UTC).isoformat(),
        **extra,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)
    return record
