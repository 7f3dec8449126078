"""Turn a wire :class:`ExecutionRequest` into the engine's :class:`ResourceRequest`.

Problems with the request are returned as message items (a NO answer), not raised: a request that
cannot be met is an answer, not an error.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from planner.engine.model import Reason, ResourceRequest
from planner.wire import kinds
from planner.wire.models import ExecutionRequest

DEFAULT_DURATION = timedelta(minutes=10)
KNOWN_EXECUTABLES = frozenset(
    {kinds.CAESAR_JOB, kinds.DOCKER_CONTAINER, kinds.SINGULARITY_CONTAINER, kinds.JUPYTER_NOTEBOOK}
)

_DURATION_RE = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration of days, hours, minutes and seconds (``PT90M``, ``P1DT2H``)."""
    match = _DURATION_RE.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {text!r} (expected e.g. PT90M)")
    parts = {key: float(value) if value else 0.0 for key, value in match.groupdict().items()}
    return timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])


def parse_interval(text: str) -> tuple[datetime, datetime]:
    """Parse ``start/duration`` or ``start/end`` into a UTC-aware (start, end) pair."""
    if "/" not in text:
        start = _parse_instant(text)
        return start, start
    head, tail = text.split("/", 1)
    start = _parse_instant(head)
    end = start + parse_duration(tail) if tail.strip().startswith("P") else _parse_instant(tail)
    if end < start:
        raise ValueError(f"interval {text!r} ends before it starts")
    return start, end


def _parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"instant {text!r} has no time zone (add Z for UTC)")
    return value


def _syntax(template: str, **values: str) -> Reason:
    return Reason(kind="urn:input-syntax-fail", template=template, values=values)


def build_resource_request(request: ExecutionRequest, now: datetime) -> tuple[ResourceRequest | None, list[Reason]]:
    """Read what the request needs; return it, or ``None`` with the reasons it cannot be read."""
    reasons: list[Reason] = []
    executable = request.executable
    flow = "extract-image"
    if executable is None:
        reasons.append(Reason(kind="urn:executable-required", template="An executable is required"))
    elif executable.kind not in KNOWN_EXECUTABLES:
        reasons.append(
            Reason(
                kind="uri:unknown-type",
                template="Unknown executable kind [${kind}]",
                values={"kind": executable.kind},
            )
        )
    else:
        flow = str(getattr(executable, "flow", None) or flow)

    cores = request.compute.cores if request.compute and request.compute.cores else None
    memory = request.compute.memory if request.compute and request.compute.memory else None
    cores_min = cores.min if cores and cores.min is not None else 1
    cores_max = cores.max if cores and cores.max is not None else cores_min
    memory_min = memory.min if memory and memory.min is not None else 1
    memory_max = memory.max if memory and memory.max is not None else memory_min
    for label, low, high in (("cores", cores_min, cores_max), ("memory", memory_min, memory_max)):
        if high < low:
            reasons.append(
                Reason(
                    kind="urn:invalid-value",
                    template="Maximum ${name} [${max}] is below the minimum [${min}]",
                    values={"name": label, "max": str(high), "min": str(low)},
                )
            )
    if cores_min < 1:
        reasons.append(_syntax("Minimum cores must be at least 1, got [${value}]", value=str(cores_min)))

    duration = DEFAULT_DURATION
    start_after: datetime | None = now
    start_before: datetime | None = None
    requested = request.schedule.requested if request.schedule else None
    if requested and requested.duration:
        try:
            duration = parse_duration(requested.duration)
        except ValueError as exc:
            reasons.append(_syntax("Bad schedule duration: ${error}", error=str(exc)))
        else:
            if duration <= timedelta(0):
                reasons.append(_syntax("Schedule duration must be positive, got [${value}]", value=requested.duration))
    if requested and requested.start:
        try:
            start_after, start_before = parse_interval(requested.start)
        except ValueError as exc:
            reasons.append(_syntax("Bad schedule start: ${error}", error=str(exc)))
        else:
            start_after = max(start_after, now)
            if start_before < now:
                reasons.append(
                    Reason(
                        kind="urn:schedule-limit",
                        template="The requested start window ended at ${end}, before now (${now})",
                        values={"end": start_before.isoformat(), "now": now.isoformat()},
                    )
                )
    if reasons:
        return None, reasons
    return (
        ResourceRequest(
            cores_min=cores_min,
            cores_max=cores_max,
            memory_gib_min=memory_min,
            memory_gib_max=memory_max,
            duration=duration,
            start_after=start_after,
            start_before=start_before,
            flow=flow,
        ),
        [],
    )
