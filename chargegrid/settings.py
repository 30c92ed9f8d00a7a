"""One typed settings object. Read it with :func:`load_settings`; never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    event_log: Literal["sqlite", "kafka"] = Field(default="sqlite", description="log adapter")
    kafka_bootstrap: str = Field(default="", description="Kafka brokers, host:port,host:port")
    kafka_topic_prefix: str = Field(default="chargegrid.", description="prefix + topic name")
    epoch_interval_s: float = Field(default=1.0, gt=0)
    live_interval_s: float = Field(default=1.0, gt=0)
    live_history_s: float = Field(default=600.0, gt=0)
    meter_interval_s: float = Field(default=60.0, gt=0, description="simulated MeterValues")
    heartbeat_interval_s: int = Field(default=300, gt=0)
    default_tariff_id: str | None = Field(
        default="dundee-flat-2018",
        description="tariff of chargers whose inventory entry names none, when "
        "<data dir>/tariff.json does not exist (ids: data/tariffs, <data dir>/tariffs)",
    )
    # judgement calls of the pipeline's rules (pipeline/checks.py Rules)
    max_clock_skew_s: float = Field(
        default=300.0, ge=0, description="a reading this far ahead of our clock is future"
    )
    power_tolerance: float = Field(
        default=1.1, ge=1, description="power above rating x this is implausible"
    )
    register_reset_fraction: float = Field(
        default=0.5, gt=0, lt=1, description="a register below this share of its last restarted"
    )
    charging_power_w: float = Field(
        default=100.0, ge=0, description="above this a vehicle charges (else idle after full)"
    )
    offline_after_s: float = Field(
        default=660.0, gt=0, description="a charger silent this long is offline (windows)"
    )
    bill_in_stream: bool = Field(default=True, description="the pipeline bills closed sessions")
    # Beckn BPP (orders/)
    bpp_id: str = Field(default="bpp.chargegrid.local", description="our Beckn subscriber id")
    bpp_uri: str = Field(default="http://127.0.0.1:9100", description="our public Beckn base URL")
    bpp_port: int = 9100
    registry_url: str = Field(default="http://127.0.0.1:9200", description="Beckn registry")
    registry_port: int = 9200
    beckn_domain: str = "ev-charging:uei"
    beckn_skew_s: float = Field(default=30.0, ge=0, description="tolerated clock skew")
    beckn_default_ttl_s: float = Field(default=30.0, gt=0, description="ttl when context has none")
    beckn_signature_ttl_s: int = Field(default=300, gt=0, description="expires - created")
    beckn_currency: str = Field(default="INR", pattern="^[A-Z]{3}$")
    beckn_price_minor_per_kwh: int = Field(default=1800, ge=0, description="flat-rate energy")
    beckn_tax_bp: int = Field(default=1800, ge=0, description="tax in basis points (18% GST)")
    beckn_corridor_m: float = Field(default=2000.0, gt=0, description="route search corridor")
    beckn_status_every_s: float = Field(default=30.0, gt=0, description="on_status while charging")
    support_escalate_every_s: float = Field(default=60.0, gt=0, description="SLA watch interval")

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
    def orders_db_path(self) -> Path:
        """Order state, inbox and callback outbox of the BPP."""
        return self.data_dir / "orders.sqlite"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def registry_path(self) -> Path:
        """Subscribers of the file-backed registry (``chargegrid serve registry``)."""
        return self.data_dir / "registry.json"

    @property
    def drain_flag(self) -> Path:
        """While this file exists, the pipeline stops once the log is fully consumed."""
        return self.run_dir / "drain"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (tests, CLI options)."""
    return Settings(**overrides)  # type: ignore[arg-type]
