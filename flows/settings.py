"""Flow settings, from ``CIRASA_FLOWS_*`` environment variables.

Each work pool's deployments set these through job variables, so the pool decides where the Dask
workers run: ``local`` (LocalCluster on the worker's machine) or ``slurm`` (dask-jobqueue).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FlowSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIRASA_FLOWS_", extra="ignore")

    cluster: Literal["local", "slurm", "kubernetes"] = Field(default="local", description="Where Dask workers run")
    slurm_partition: str = Field(default="debug", description="Partition for Dask worker jobs")
    log_directory: str | None = Field(default=None, description="Where Slurm worker job logs go")
    kubernetes_image: str = Field(default="cirasa-worker:latest", description="Dask worker image on Kubernetes")
    kubernetes_namespace: str = Field(default="cirasa", description="Namespace of the Dask clusters")
    broker_url: str = Field(default="http://127.0.0.1:8790", description="ExecutionBroker the planner task asks")
