"""Adapters for the configured platforms: the only place that maps a platform kind to its class."""

from __future__ import annotations

import logging
import os
from dataclasses import replace

from planner.adapters.base import PlatformAdapter
from planner.engine.model import PlatformSnapshot, ResourceRequest
from planner.settings import BrokerSettings, PlatformConfig

logger = logging.getLogger(__name__)


class DeclaredPlatform:
    """Adds what the operator declared about a platform (price per core-hour, local data roots) to
    every snapshot its adapter reads; the adapter itself stays unaware of both."""

    def __init__(self, adapter: PlatformAdapter, *, cost_per_core_hour: float | None, data_roots: tuple[str, ...]):
        self.name = adapter.name
        self.adapter = adapter
        self.cost_per_core_hour = cost_per_core_hour
        self.data_roots = data_roots

    async def snapshot(self, request: ResourceRequest) -> PlatformSnapshot:
        snapshot = await self.adapter.snapshot(request)
        return replace(snapshot, cost_per_core_hour=self.cost_per_core_hour, data_roots=self.data_roots)

    def __repr__(self) -> str:
        return f"DeclaredPlatform({self.adapter!r}, cost_per_core_hour={self.cost_per_core_hour})"


def build_adapter(platform: PlatformConfig, settings: BrokerSettings) -> PlatformAdapter:
    """The adapter of one configured platform (imports are local: each pulls its own client)."""
    token = platform.token.get_secret_value() if platform.token else None
    if platform.kind == "prefect-pool":
        from planner.adapters.prefect_pool import PrefectPoolAdapter

        return PrefectPoolAdapter(
            name=platform.name,
            work_pool=platform.work_pool,
            api_url=settings.prefect_api_url,
            cores=platform.cores,
            memory_gib=platform.memory_gib,
            launch_runs=settings.launch_runs,
        )
    if platform.kind == "broker":
        from planner.adapters.remote_broker import RemoteBrokerAdapter

        if platform.url is None:
            raise ValueError(f"platform {platform.name}: kind broker needs url")
        return RemoteBrokerAdapter(
            name=platform.name,
            url=platform.url,
            work_pool=platform.work_pool,
            token=token,
            timeout_s=platform.timeout_s,
        )
    if platform.kind == "kubernetes":
        from planner.adapters.kubernetes import KubernetesAdapter

        return KubernetesAdapter(
            name=platform.name,
            namespace=platform.namespace or "default",
            work_pool=platform.work_pool,
            server=platform.url,
            token=token,
            kubeconfig=platform.kubeconfig,
            timeout_s=platform.timeout_s,
        )
    from planner.adapters.slurm import SlurmAdapter

    return SlurmAdapter(name=platform.name, partition=platform.partition or "debug", work_pool=platform.work_pool)


def with_launcher(adapter: PlatformAdapter, platform: PlatformConfig, settings: BrokerSettings) -> PlatformAdapter:
    """Slurm and Kubernetes platforms run their work through the Prefect pool that fronts them;
    a remote broker runs its own, and a Prefect pool launches by itself."""
    if not settings.launch_runs or platform.kind not in ("slurm", "kubernetes"):
        return adapter
    if not (settings.prefect_api_url or os.environ.get("PREFECT_API_URL")):
        logger.warning("platform %s: no Prefect API URL, so accepted sessions are left to the client", platform.name)
        return adapter
    from planner.adapters.prefect_pool import LaunchThroughPrefect, PrefectRunLauncher

    return LaunchThroughPrefect(
        adapter, PrefectRunLauncher(work_pool=platform.work_pool, api_url=settings.prefect_api_url)
    )


def build_adapters(settings: BrokerSettings) -> list[PlatformAdapter]:
    """Adapters for the configured platforms (the only place that knows the concrete classes)."""
    adapters: list[PlatformAdapter] = []
    for platform in settings.platforms:
        adapter = with_launcher(build_adapter(platform, settings), platform, settings)
        if platform.cost_per_core_hour is not None or platform.data_roots:
            adapter = DeclaredPlatform(
                adapter, cost_per_core_hour=platform.cost_per_core_hour, data_roots=platform.data_roots
            )
        adapters.append(adapter)
    return adapters
