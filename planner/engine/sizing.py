"""How an accepted slot (cores, memory) becomes the flows' Dask cluster request."""

from __future__ import annotations

from typing import Any

MAX_DASK_WORKERS = 2


def dask_cluster_parameters(cores: int, memory_gib: int, max_workers: int = MAX_DASK_WORKERS) -> dict[str, Any]:
    """The offered cores split over at most ``max_workers`` workers, the offered memory shared among them.

    >>> dask_cluster_parameters(3, 2)
    {'workers': 2, 'cores_per_worker': 1, 'memory_gib_per_worker': 1.0}
    """
    workers = max(1, min(cores, max_workers))
    return {
        "workers": workers,
        "cores_per_worker": max(1, cores // workers),
        "memory_gib_per_worker": max(memory_gib / workers, 0.5),
    }
