"""Broker settings, read from ``CIRASA_BROKER_*`` environment variables (and an optional TOML file).

Read only at the edges (``create_app``, the CLI); the engine and adapters take explicit arguments.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformConfig(BaseModel):
    """One platform the broker offers on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Platform name shown in offers")
    kind: Literal["prefect-pool", "slurm", "kubernetes", "broker"]
    work_pool: str = Field(description="Prefect work pool whose deployments run work here")
    partition: str | None = Field(default=None, description="Slurm partition (slurm platforms)")
    cores: int | None = Field(default=None, ge=1, description="Cores behind a Prefect pool (default: this machine)")
    memory_gib: float | None = Field(default=None, gt=0, description="Memory behind a Prefect pool, GiB")
    preference: float = Field(default=0.0, description="Operator bonus added to this platform's score")
    url: str | None = Field(default=None, description="Remote broker URL (broker) or API server (kubernetes)")
    token: SecretStr | None = Field(default=None, description="Bearer token for url; never logged")
    namespace: str | None = Field(default=None, description="Kubernetes namespace (kubernetes platforms)")
    kubeconfig: Path | None = Field(default=None, description="Kubeconfig file (default: KUBECONFIG)")
    timeout_s: float = Field(default=5.0, gt=0, description="Per-call time-out of this platform's adapter")
    cost_per_core_hour: float | None = Field(default=None, ge=0, description="Price of one core for one hour")
    data_roots: tuple[str, ...] = Field(default=(), description="Path or URL prefixes of data local to it")

    @model_validator(mode="after")
    def _kind_fields(self) -> PlatformConfig:
        if self.kind == "broker" and not self.url:
            raise ValueError(f"platform {self.name}: kind broker needs url")
        if self.kind == "kubernetes" and not self.namespace:
            raise ValueError(f"platform {self.name}: kind kubernetes needs namespace")
        return self


def default_platforms() -> list[PlatformConfig]:
    return [
        PlatformConfig(name="local", kind="prefect-pool", work_pool="cirasa-local"),
        PlatformConfig(name="slurm", kind="slurm", work_pool="cirasa-slurm", partition="debug"),
    ]


class TokenEntry(BaseModel):
    """One bearer token and the owner it stands for. The token is a secret: never logged or shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr
    owner: str = Field(min_length=1)


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
    compat_calycopis: bool = Field(
        default=False,
        description="Answer invalid transitions as the Calycopis prototype does: 200, session unchanged, "
        "an ERROR message item (default: 409 with the allowed phases)",
    )
    auth_tokens: list[TokenEntry] = Field(
        default_factory=list, description='Bearer tokens, e.g. [{"token": "...", "owner": "alice"}]'
    )
    auth_tokens_file: Path | None = Field(
        default=None, description="File of '<owner> <token>' lines ('#' starts a comment)"
    )
    read_policy: Literal["owner", "authenticated", "public"] = Field(
        default="owner", description="Who may GET offer sets and sessions when auth is on"
    )
    poll_interval_s: float = Field(default=2.0, gt=0, description="How often running sessions are refreshed")
    launch_runs: bool = Field(
        default=True,
        description="Accepting a caesar job creates its flow run (deployment <flow>/<work pool>) and the session "
        "follows it; off: the client runs the work itself after accepting",
    )

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
