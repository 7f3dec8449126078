"""Wire sessions for engine offers: resources, one time slot, costs and metrics, placement."""

from __future__ import annotations

import uuid as uuidlib
from datetime import datetime, timedelta

from planner.engine.lifecycle import allowed_updates
from planner.engine.model import Offer, Reason, ResourceRequest
from planner.wire import kinds
from planner.wire import models as w

Phase = w.SimpleExecutionSessionPhase
# Declared estimate of energy per core-hour (Wh): a rough figure for a server core under load.
ENERGY_WH_PER_CORE_HOUR = 10.0


def message_item(reason: Reason, now: datetime) -> w.MessageItem:
    level = reason.level if reason.level in ("DEBUG", "WARN", "ERROR", "INFO", "OTHER") else "ERROR"
    return w.MessageItem(
        kind=reason.kind,
        time=now,
        level=level,
        template=reason.template,
        values=reason.values,
        message=reason.message,
    )


def iso_duration(delta: timedelta) -> str:
    return f"PT{max(int(delta.total_seconds()), 0)}S"


def _costs(offer: Offer) -> tuple[list[w.SimpleMinMaxFloatCost], list[w.SimpleMinMaxFloatMetric]]:
    hours = offer.duration.total_seconds() / 3600
    energy = round(offer.cores * hours * ENERGY_WH_PER_CORE_HOUR, 3)
    costs = [w.SimpleMinMaxFloatCost(type="urn:ivoa:calycopis:cost:energy", description="Wh", min=energy, max=energy)]
    if offer.cost is not None:
        costs.append(w.SimpleMinMaxFloatCost(type="urn:ivoa:calycopis:cost:monetary", min=offer.cost, max=offer.cost))
    metrics = [
        w.SimpleMinMaxFloatMetric(
            type="urn:ivoa:calycopis:metric:compute-performance",
            description="cores",
            min=float(offer.cores),
            max=float(offer.cores),
        )
    ]
    return costs, metrics


def build_session(
    request: w.ExecutionRequest, resources: ResourceRequest | None, offer: Offer, base_url: str, now: datetime
) -> w.ScheduledExecutionSession:
    """The OFFERED session of one engine offer; its start window stays inside the requested one."""
    session_id = str(uuidlib.uuid4())
    earliest = offer.start.earliest
    latest = offer.start.latest
    if resources is not None and resources.start_before is not None:
        latest = max(min(latest, resources.start_before), earliest)
    costs, metrics = _costs(offer)
    compute = w.SimpleComputeResource(
        kind=kinds.SIMPLE_COMPUTE,
        meta=w.ComponentMetadata(uuid=str(uuidlib.uuid4())),
        cores=w.MinMaxInteger(min=offer.cores, max=offer.cores),
        memory=w.MinMaxInteger(min=offer.memory_gib, max=offer.memory_gib),
        volumes=request.compute.volumes if request.compute else [],
        costs=costs,
        metrics=metrics,
    )
    return w.ScheduledExecutionSession(
        meta=w.ComponentMetadata(
            uuid=session_id,
            url=f"{base_url}/sessions/{session_id}",
            created=now,
            options=[w.EnumValueOption(path="phase", values=allowed_updates(Phase.OFFERED))],
            messages=[message_item(n, now) for n in offer.notes],
        ),
        phase=Phase.OFFERED,
        expires=offer.expires,
        executable=request.executable,
        compute=compute,
        data=request.data,
        storage=request.storage,
        schedule=w.ScheduledExecutionSchedule(
            preparing=w.ScheduleInstant(start=earliest.isoformat(timespec="seconds"), duration="PT0S"),
            available=w.ScheduleInstant(
                start=f"{earliest.isoformat(timespec='seconds')}/{iso_duration(latest - earliest)}",
                duration=iso_duration(offer.duration),
            ),
            releasing=w.ScheduleInstant(start=(latest + offer.duration).isoformat(timespec="seconds"), duration="PT0S"),
        ),
        costs=costs,
        metrics=metrics,
        placement=w.PlatformPlacement(
            platform=offer.platform,
            platform_kind=offer.kind.value,
            work_pool=offer.work_pool,
            score=offer.score,
            score_terms=offer.score_terms,
            start_earliest=offer.start.earliest,
            start_latest=offer.start.latest,
            start_source=offer.start.source,
        ),
    )
