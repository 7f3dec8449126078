"""Capacity held by live offers and running sessions, and what is left of each platform.

Pure. The service reads the holdings from storage, subtracts them from each platform's snapshot
and evaluates on what remains, all under one lock with storing the new offers, so two requests
never offer the same capacity twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from planner.engine.model import PlatformSnapshot, Reason, ResourceRequest, Verdict


@dataclass(frozen=True)
class Holding:
    """Capacity held on one platform by sessions that are OFFERED, accepted or running."""

    platform: str
    cores: int
    memory_gib: float


def total_holdings(holdings: Iterable[Holding]) -> dict[str, Holding]:
    """Sum holdings per platform."""
    totals: dict[str, Holding] = {}
    for holding in holdings:
        seen = totals.get(holding.platform)
        totals[holding.platform] = (
            holding
            if seen is None
            else Holding(holding.platform, seen.cores + holding.cores, seen.memory_gib + holding.memory_gib)
        )
    return totals


def remaining(snapshot: PlatformSnapshot, held: Holding | None) -> PlatformSnapshot:
    """The snapshot with the held capacity taken off its free cores and memory (never below zero)."""
    if held is None:
        return snapshot
    return replace(
        snapshot,
        free_cores=max(snapshot.free_cores - held.cores, 0),
        free_memory_gib=max(snapshot.free_memory_gib - held.memory_gib, 0.0),
        facts={**snapshot.facts, "held_cores": held.cores, "held_memory_gib": held.memory_gib},
    )


def _full(snapshot: PlatformSnapshot, name: str, wanted: str, free: str) -> Reason:
    return Reason(
        kind="urn:resource-limit",
        template="Minimum ${name} [${wanted}] exceeds what platform ${platform} has free [${free}] "
        "while other offers and sessions hold the rest",
        values={"name": name, "wanted": wanted, "free": free, "platform": snapshot.name},
    )


def split_by_room(
    request: ResourceRequest, snapshots: Sequence[PlatformSnapshot], holdings: Iterable[Holding]
) -> tuple[list[PlatformSnapshot], list[Verdict]]:
    """Snapshots with room for the request's minimum after holdings, and a verdict for each full one."""
    totals = total_holdings(holdings)
    fits: list[PlatformSnapshot] = []
    full: list[Verdict] = []
    for snapshot in snapshots:
        left = remaining(snapshot, totals.get(snapshot.name))
        reasons: list[Reason] = []
        if left.available and left.free_cores < request.cores_min <= snapshot.total_cores:
            reasons.append(_full(left, "cores", str(request.cores_min), str(left.free_cores)))
        if left.available and left.free_memory_gib < request.memory_gib_min <= snapshot.total_memory_gib:
            reasons.append(_full(left, "memory (GiB)", str(request.memory_gib_min), f"{left.free_memory_gib:g}"))
        if reasons:
            full.append(Verdict(platform=snapshot.name, eligible=False, reasons=tuple(reasons)))
        else:
            fits.append(left)
    return fits, full


def fits_after(holdings: Iterable[Holding], snapshots: Sequence[PlatformSnapshot]) -> bool:
    """True when no platform is held beyond its total capacity (the no-over-commit invariant)."""
    totals = total_holdings(holdings)
    by_name = {s.name: s for s in snapshots}
    return all(
        h.cores <= by_name[h.platform].total_cores and h.memory_gib <= by_name[h.platform].total_memory_gib
        for h in totals.values()
        if h.platform in by_name
    )
