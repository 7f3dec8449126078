"""Can this platform run this request at all? A :class:`Verdict` with a reason per unmet need."""

from __future__ import annotations

from planner.engine.model import PlatformSnapshot, Reason, ResourceRequest, Verdict


def _limit(name: str, platform: str, wanted: str, limit: str) -> Reason:
    return Reason(
        kind="urn:resource-limit",
        template="Minimum ${name} [${wanted}] exceeds the limit [${limit}] of platform ${platform}",
        values={"name": name, "wanted": wanted, "limit": limit, "platform": platform},
    )


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
    core_limit = min(v for v in (snapshot.max_cores_per_job, snapshot.total_cores) if v is not None)
    if request.cores_min > core_limit:
        reasons.append(_limit("cores", name, str(request.cores_min), str(core_limit)))
    memory_limit = min(v for v in (snapshot.max_memory_gib_per_job, snapshot.total_memory_gib) if v is not None)
    if request.memory_gib_min > memory_limit:
        reasons.append(_limit("memory (GiB)", name, str(request.memory_gib_min), f"{memory_limit:g}"))
    if snapshot.max_walltime is not None and request.duration > snapshot.max_walltime:
        reasons.append(
            _limit("duration", name, str(request.duration), str(snapshot.max_walltime)),
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
