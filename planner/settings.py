"""Broker settings, read from ``CIRASA_BROKER_*`` environment variables (and an optional TOML file).

Read only at the edges (``create_app``, the CLI); the engine and adapters take explicit arguments.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformConfig(BaseModel):
    """One platform the broker offers on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Platform name shown in offers")
    kind: Literal["prefect-pool", "slurm"]
    work_pool: str = Field(description="Prefect work pool whose deployments run work here")
    partition: str | None = Field(default=None, description="Slurm partition (slurm platforms)")
    cores: int | None = Field(default=None, ge=1, description="Cores behind a Prefect pool (default: this machine)")
    memory_gib: float | None = Field(default=None, gt=0, description="Memory behind a Prefect pool, GiB")
    preference: float = Field(default=0.0, description="Operator bonus added to this platform's score")


def default_platforms() -> list[PlatformConfig]:
    return [
        PlatformConfig(name="local", kind="prefect-pool", work_pool="cirasa-local"),
        PlatformConfig(name="slurm", kind="slurm", work_pool="cirasa-slurm", partition="debug"),
    ]


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIRASA_BROKER_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8790
    offer_ttl_s: float = Field(default=300.0, gt=0, description="Offer lifetime (default 5 minutes)")
    platform_timeout_s: float = Field(default=5.0, gt=0, description="Per-platform time-out when asking")
    prefect_api_url: str | None = Field(default=None, description="Defaults to PREFECT_API_URL")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite file broker.sqlite3 under CIRASA_HOME (var/)"
    )
    config_file: Path | None = Field(default=None, description="TOML file with [[platforms]] tables")
    platforms: list[PlatformConfig] = Field(default_factory=default_platforms)

    def resolved_database_url(self) -> str:
        home = Path(os.environ.get("CIRASA_HOME", "var")).resolve()
        return self.database_url or f"sqlite+aiosqlite:///{home / 'broker.sqlite3'}"

    def with_config_file(self) -> BrokerSettings:
        """Return settings with ``platforms`` replaced by the TOML file's, when one is given."""
        if self.config_file is None:
            return self
        data = tomllib.loads(self.config_file.read_text())
        platforms = [PlatformConfig.model_validate(p) for p in data.get("platforms", [])]
        return self.model_copy(update={"platforms": platforms})
