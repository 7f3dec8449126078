"""Turn a wire :class:`ExecutionRequest` into the engine's :class:`ResourceRequest`.

Problems with the request are returned as message items (a NO answer), not raised: a request that
cannot be met is an answer, not an error.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from planner.engine.model import Reason, ResourceRequest
from planner.wire import kinds
from planner.wire import models as w
from planner.wire.caesar import check_options
from planner.wire.models import ExecutionRequest

DEFAULT_DURATION = timedelta(minutes=10)
KNOWN_EXECUTABLES = frozenset(
    {kinds.CAESAR_JOB, kinds.DOCKER_CONTAINER, kinds.SINGULARITY_CONTAINER, kinds.JUPYTER_NOTEBOOK}
)
# What the platforms behind this broker can run: Prefect flows for caesar jobs, and containers.
SUPPORTED_EXECUTABLES = frozenset({kinds.CAESAR_JOB, kinds.DOCKER_CONTAINER})

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


def _reason(kind_: str, template: str, **values: str) -> Reason:
    return Reason(kind=kind_, template=template, values=values)


def check_executable(executable: w.AbstractExecutable | None, supported: frozenset[str]) -> list[Reason]:
    """Reasons the executable cannot run here: missing, of a kind we do not run, or badly described."""
    if executable is None:
        return [_reason("urn:executable-required", "An executable is required")]
    if executable.kind not in supported:
        template = (
            "Executable kind [${kind}] is known, but not supported here"
            if executable.kind in (KNOWN_EXECUTABLES)
            else "Unknown executable kind [${kind}]"
        )
        return [_reason("uri:unknown-type", template, kind=executable.kind)]
    reasons: list[Reason] = []
    if isinstance(executable, w.DockerContainer):
        if executable.image is None or not executable.image.locations:
            reasons.append(_reason("urn:missing-required-value", "A Docker container needs image.locations"))
        if executable.privileged:
            reasons.append(_reason("urn:not-supported", "Privileged containers are not supported"))
        for index, port in enumerate(executable.network.ports if executable.network else []):
            if port.external is not None:
                reasons.append(
                    _reason(
                        "urn:not-supported",
                        "External port of network port [${index}] is set by the service, not the client",
                        index=str(index),
                    )
                )
            if port.internal is not None and port.internal.port is not None and port.internal.port <= 0:
                reasons.append(
                    _reason(
                        "urn:invalid-value",
                        "Internal port [${port}] of network port [${index}] must be positive",
                        port=str(port.internal.port),
                        index=str(index),
                    )
                )
    if isinstance(executable, w.CaesarJobExecutable):
        if not executable.inputs:
            reasons.append(_reason("urn:missing-required-value", "A caesar job needs at least one input image"))
        reasons.extend(Reason(p.kind, p.template, p.values) for p in check_options(executable.app, executable.options))
    return reasons


def check_resources(request: ExecutionRequest) -> list[Reason]:
    """Reasons the data, storage and volume references do not hold together."""
    reasons: list[Reason] = []
    data_names = {d.meta.name for d in request.data if d.meta and d.meta.name}
    data_names |= {d.meta.uuid for d in request.data if d.meta and d.meta.uuid}
    storage_names = {s.meta.name for s in request.storage if s.meta and s.meta.name}
    storage_names |= {s.meta.uuid for s in request.storage if s.meta and s.meta.uuid}
    for name in sorted(data_names & storage_names):
        reasons.append(
            _reason("uri:duplicate-resource", "The name [${name}] is both a data and a storage resource", name=name)
        )
    for data in request.data:
        if data.storage is not None and data.storage not in storage_names:
            reasons.append(
                _reason(
                    "uri:resource-not-found",
                    "Data resource [${data}] names the storage [${storage}], which is not in the request",
                    data=(data.meta.name if data.meta else None) or "?",
                    storage=data.storage,
                )
            )
    for volume in request.compute.volumes if request.compute else []:
        if volume.resource is None or volume.resource not in data_names | storage_names:
            reasons.append(
                _reason(
                    "uri:resource-not-found",
                    "Volume at [${path}] mounts the resource [${resource}], which is not in the request",
                    path=volume.path or "?",
                    resource=volume.resource or "",
                )
            )
    return reasons


def build_resource_request(
    request: ExecutionRequest, now: datetime, supported: frozenset[str] = SUPPORTED_EXECUTABLES
) -> tuple[ResourceRequest | None, list[Reason]]:
    """Read what the request needs; return it, or ``None`` with the reasons it cannot be read."""
    executable = request.executable
    reasons = check_executable(executable, supported) + check_resources(request)
    flow = str(getattr(executable, "flow", None) or "extract-image")

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
            inputs=request_inputs(request),
            cost_max=budget(request),
        ),
        [],
    )


def request_inputs(request: ExecutionRequest) -> tuple[str, ...]:
    """Where the job's input data are: a caesar job's input images, then the data resources' locations."""
    inputs = list(request.executable.inputs) if isinstance(request.executable, w.CaesarJobExecutable) else []
    inputs += [d.location for d in request.data if d.location]
    return tuple(inputs)


def budget(request: ExecutionRequest) -> float | None:
    """The client's monetary budget: the smallest ``max`` of its monetary (or untyped) costs."""
    limits = [
        c.max for c in request.costs if c.max is not None and c.type in (None, "urn:ivoa:calycopis:cost:monetary")
    ]
    return min(limits) if limits else None
