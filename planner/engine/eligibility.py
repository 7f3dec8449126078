"""Can this platform run this request at all? A :class:`Verdict` with a reason per unmet need.

Like HTCondor's ``-better-analyze``: every unmet requirement is listed (not just the first), each
saying what was needed, what the platform has, and which of its limits decided it.
"""

from __future__ import annotations

from planner.engine.model import PlatformSnapshot, Reason, ResourceRequest, Verdict


def _limit(name: str, platform: str, wanted: str, limit: str, which: str) -> Reason:
    return Reason(
        kind="urn:resource-limit",
        template="Minimum ${name} [${wanted}] exceeds the limit [${limit}] of platform ${platform} (${which})",
        values={"name": name, "wanted": wanted, "limit": limit, "platform": platform, "which": which},
    )


def _tightest(per_job: float | None, total: float, unit: str) -> tuple[float, str]:
    """The binding limit and its description, e.g. ``(4, "per-job limit 4 cores; 16 in total")``."""
    if per_job is not None and per_job < total:
        return per_job, f"per-job limit {per_job:g} {unit}; {total:g} in total"
    return total, f"total capacity {total:g} {unit}"


def job_cost(request: ResourceRequest, snapshot: PlatformSnapshot, cores: int) -> float | None:
    """Price of running ``cores`` for the request's duration, when the platform is priced."""
    if snapshot.cost_per_core_hour is None:
        return None
    return round(cores * request.duration.total_seconds() / 3600 * snapshot.cost_per_core_hour, 6)


def judge(request: ResourceRequest, snapshot: PlatformSnapshot) -> Verdict:
    """Check every requirement against one snapshot; list every unmet one, not just the first."""
    reasons: list[Reason] = []
    name = snapshot.name
    if not snapshot.available:
        detail = "; ".join(snapshot.unavailable_reasons) or "no reason given"
        reasons.append(
            Reason(
                kind="urn:platform-unavailable",
                template="Platform ${platform} cannot take work now: ${detail}",
                values={"platform": name, "detail": detail},
            )
        )
    # An unavailable platform that reported no capacity at all has no limits worth listing.
    known = snapshot.available or snapshot.total_cores > 0
    core_limit, core_which = _tightest(snapshot.max_cores_per_job, snapshot.total_cores, "cores")
    if known and request.cores_min > core_limit:
        reasons.append(_limit("cores", name, str(request.cores_min), f"{core_limit:g}", core_which))
    memory_limit, memory_which = _tightest(snapshot.max_memory_gib_per_job, snapshot.total_memory_gib, "GiB")
    if known and request.memory_gib_min > memory_limit:
        reasons.append(_limit("memory (GiB)", name, str(request.memory_gib_min), f"{memory_limit:g}", memory_which))
    if snapshot.max_walltime is not None and request.duration > snapshot.max_walltime:
        reasons.append(
            _limit("duration", name, str(request.duration), str(snapshot.max_walltime), "maximum wall time per job")
        )
    cost = job_cost(request, snapshot, request.cores_min)
    if cost is not None and request.cost_max is not None and cost > request.cost_max:
        reasons.append(
            Reason(
                kind="urn:cost-limit",
                template="Minimum cost [${cost}] on platform ${platform} exceeds the budget [${budget}] "
                "(${cores} core(s) for ${hours} h at ${rate} per core-hour)",
                values={
                    "cost": f"{cost:g}",
                    "budget": f"{request.cost_max:g}",
                    "platform": name,
                    "cores": str(request.cores_min),
                    "hours": f"{request.duration.total_seconds() / 3600:g}",
                    "rate": f"{snapshot.cost_per_core_hour:g}",
                },
            )
        )
    if snapshot.available and snapshot.start is None:
        reasons.append(
            Reason(
                kind="urn:no-start-estimate",
                template="Platform ${platform} gave no start-time estimate",
                values={"platform": name},
            )
        )
    elif (
        snapshot.start is not None
        and request.start_before is not None
        and snapshot.start.earliest > request.start_before
    ):
        reasons.append(
            Reason(
                kind="urn:schedule-limit",
                template="Platform ${platform} can start at ${start} at the earliest, after the requested "
                "window ends (${end}); estimate from ${source}",
                values={
                    "platform": name,
                    "start": snapshot.start.earliest.isoformat(timespec="seconds"),
                    "end": request.start_before.isoformat(timespec="seconds"),
                    "source": snapshot.start.source,
                },
            )
        )
    return Verdict(platform=name, eligible=not reasons, reasons=tuple(reasons))
