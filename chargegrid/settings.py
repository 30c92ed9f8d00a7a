"""One typed settings object. Read it with :func:`load_settings`; never at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of chargegrid, from ``CHARGEGRID_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CHARGEGRID_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="root of all state")
    host: str = Field(default="127.0.0.1", description="interface servers listen on")
    csms_port: int = 9000
    dashboard_port: int = 8050
    log_partitions: int = Field(default=1, ge=1, le=64, description="partitions per topic")
    log_retention_s: float = Field(default=3600.0, ge=0, description="keep consumed rows")
    epoch_interval_s: float = Field(default=1.0, gt=0)
    live_interval_s: float = Field(default=1.0, gt=0)
    live_history_s: float = Field(default=600.0, gt=0)
    meter_interval_s: float = Field(default=60.0, gt=0, description="simulated MeterValues")
    heartbeat_interval_s: int = Field(default=300, gt=0)

    @property
    def eventlog_path(self) -> Path:
        return self.data_dir / "eventlog.sqlite"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.duckdb"

    @property
    def live_dir(self) -> Path:
        return self.data_dir / "live"

    @property
    def recovery_dir(self) -> Path:
        return self.data_dir / "recovery"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def inventory_path(self) -> Path:
        return self.data_dir / "inventory.json"

    @property
    def drain_flag(self) -> Path:
        """While this file exists, the pipeline stops once the log is fully consumed."""
        return self.run_dir / "drain"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (tests, CLI options)."""
    return Settings(**overrides)  # type: ignore[arg-type]
