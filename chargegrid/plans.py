"""A planned charging session: what a simulated charger and vehicle will do, in simulated time.

Replay (real session rows) and the demo city (synthetic arrivals) both produce plans; the
simulator fleet executes them over real OCPP. ``energy_wh`` is exact: the simulated register moves
by exactly this many Wh between the start and stop of the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class PlannedSession(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str  # where it came from, e.g. "dundee:4032911" or "demo:17"
    charger_id: str
    connector_id: Annotated[int, Field(ge=1)]
    id_tag: Annotated[str, Field(min_length=1, max_length=20)]  # OCPP 1.6 CiString20
    plug_in: AwareDatetime
    plug_out: AwareDatetime
    energy_wh: Annotated[int, Field(ge=0)]
    max_power_w: Annotated[float, Field(gt=0)]  # min(connector, vehicle)
    battery_wh: Annotated[float, Field(gt=0)] = 60_000.0
    soc_start_pct: Annotated[float, Field(ge=0, le=100)] = 20.0

    @model_validator(mode="after")
    def _ordered(self) -> PlannedSession:
        if self.plug_out < self.plug_in:
            msg = f"{self.ref}: plug_out {self.plug_out} before plug_in {self.plug_in}"
            raise ValueError(msg)
        return self

    @property
    def duration_s(self) -> float:
        return (self.plug_out - self.plug_in).total_seconds()


def earliest(plans: list[PlannedSession]) -> datetime:
    return min(p.plug_in for p in plans)
