"""Adapters for the configured platforms: the only place that maps a platform kind to its class."""

from __future__ import annotations

from planner.adapters.base import PlatformAdapter
from planner.settings import BrokerSettings


def build_adapters(settings: BrokerSettings) -> list[PlatformAdapter]:
    """Adapters for the configured platforms (the only place that knows the concrete classes)."""
    from planner.adapters.prefect_pool import PrefectPoolAdapter  # imported here: each pulls its client
    from planner.adapters.slurm import SlurmAdapter

    adapters: list[PlatformAdapter] = []
    for platform in settings.platforms:
        if platform.kind == "prefect-pool":
            adapters.append(
                PrefectPoolAdapter(
                    name=platform.name,
                    work_pool=platform.work_pool,
                    api_url=settings.prefect_api_url,
                    cores=platform.cores,
                    memory_gib=platform.memory_gib,
                )
            )
        else:
            adapters.append(
                SlurmAdapter(name=platform.name, partition=platform.partition or "debug", work_pool=platform.work_pool)
            )
    return adapters
