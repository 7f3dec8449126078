"""Score an eligible platform: resource fit, start time, cost, data locality, operator preference.

Higher is better. Every term is kept in ``score_terms`` (all five, 0 where nothing is known) so a
user can see why one offer beat another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from planner.engine.eligibility import job_cost
from planner.engine.model import Offer, PlatformSnapshot, Reason, ResourceRequest, StartBand


@dataclass(frozen=True)
class ScoringWeights:
    """Operator-tunable weights. ``preference`` adds a fixed bonus per platform name.

    ``cost`` weighs a penalty in [-1, 0]: the share of the budget spent, or without a budget
    ``cost / (cost + cost_scale)``. ``locality`` weighs the share of inputs under the platform's data roots.
    """

    fit: float = 1.0
    start: float = 1.0
    start_scale: timedelta = timedelta(minutes=5)
    cost: float = 1.0
    cost_scale: float = 1.0
    locality: float = 1.0
    preference: dict[str, float] = field(default_factory=dict)


def is_under(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or inside it (``/data/x`` is under ``/data``, ``/database`` is not)."""
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/")


def locality(inputs: tuple[str, ...], roots: tuple[str, ...]) -> float:
    """Share of ``inputs`` stored under one of ``roots`` (0 when there are no inputs)."""
    if not inputs:
        return 0.0
    return sum(1 for path in inputs if any(is_under(path, root) for root in roots)) / len(inputs)


def cost_penalty(cost: float | None, request: ResourceRequest, weights: ScoringWeights) -> float:
    if cost is None:
        return 0.0
    if request.cost_max:
        return -weights.cost * min(cost / request.cost_max, 1.0)
    return -weights.cost * cost / (cost + weights.cost_scale) if cost > 0 else 0.0


def offered_resources(request: ResourceRequest, snapshot: PlatformSnapshot) -> tuple[int, int]:
    """Cores and memory (GiB) to offer: never below the minimum, never above the maximum or the limit."""
    core_limit = min(v for v in (snapshot.max_cores_per_job, snapshot.total_cores) if v is not None)
    memory_limit = min(v for v in (snapshot.max_memory_gib_per_job, snapshot.total_memory_gib) if v is not None)
    cores = max(request.cores_min, min(request.cores_max, core_limit, max(snapshot.free_cores, 0)))
    memory = max(
        request.memory_gib_min,
        min(request.memory_gib_max, int(memory_limit), int(max(snapshot.free_memory_gib, 0))),
    )
    return cores, memory


def score_offer(
    request: ResourceRequest,
    snapshot: PlatformSnapshot,
    start: StartBand,
    cores: int,
    memory_gib: int,
    weights: ScoringWeights,
    now: datetime,
) -> tuple[float, dict[str, float]]:
    """Return the score and its terms. Fit is the share of the requested maximum offered."""
    fit = 0.5 * (cores / request.cores_max) + 0.5 * (memory_gib / max(request.memory_gib_max, 1))
    delay = max((start.earliest - max(now, request.start_after or now)).total_seconds(), 0.0)
    start_term = 1.0 / (1.0 + delay / weights.start_scale.total_seconds())
    terms = {
        "fit": round(weights.fit * min(fit, 1.0), 6),
        "start": round(weights.start * start_term, 6),
        "cost": round(cost_penalty(job_cost(request, snapshot, cores), request, weights), 6),
        "locality": round(weights.locality * locality(request.inputs, snapshot.data_roots), 6),
        "preference": weights.preference.get(snapshot.name, 0.0),
    }
    return round(sum(terms.values()), 6), terms


def clamp_notes(
    request: ResourceRequest, snapshot: PlatformSnapshot, cores: int, memory_gib: int
) -> tuple[Reason, ...]:
    """WARN notes where a requested maximum was clamped to what the platform gives (never a minimum)."""
    notes = []
    for name, wanted, given in (
        ("cores", request.cores_max, cores),
        ("memory (GiB)", request.memory_gib_max, memory_gib),
    ):
        if given < wanted:
            notes.append(
                Reason(
                    kind="urn:resource-clamped",
                    template="Maximum ${name} [${wanted}] clamped to [${given}] on platform ${platform}",
                    values={"name": name, "wanted": str(wanted), "given": str(given), "platform": snapshot.name},
                    level="WARN",
                )
            )
    return tuple(notes)


def make_offer(
    request: ResourceRequest,
    snapshot: PlatformSnapshot,
    weights: ScoringWeights,
    now: datetime,
    ttl: timedelta,
) -> Offer:
    """Build the offer of an eligible platform (its verdict must be eligible)."""
    if snapshot.start is None:
        raise ValueError(f"platform {snapshot.name} has no start band; judge() it first")
    earliest = max(snapshot.start.earliest, request.start_after or now)
    start = StartBand(earliest=earliest, latest=max(earliest, snapshot.start.latest), source=snapshot.start.source)
    cores, memory = offered_resources(request, snapshot)
    score, terms = score_offer(request, snapshot, start, cores, memory, weights, now)
    return Offer(
        platform=snapshot.name,
        kind=snapshot.kind,
        work_pool=snapshot.work_pool,
        cores=cores,
        memory_gib=memory,
        start=start,
        duration=request.duration,
        expires=now + ttl,
        score=score,
        score_terms=terms,
        notes=clamp_notes(request, snapshot, cores, memory),
        cost=job_cost(request, snapshot, cores),
    )
