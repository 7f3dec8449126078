"""The planner's client side: ask a broker for offers, choose one, accept it, name the deployment.

Shared by the planner task in ``flows/``, ``cirasa plan`` and ``cirasa demo``, so all of them
decide the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from planner.client import BrokerClient
from planner.engine.choose import Choice, NoOfferError, choose
from planner.errors import InvalidTransitionError, PlannerError
from planner.wire import kinds
from planner.wire.models import (
    CaesarJobExecutable,
    ComponentMetadata,
    ExecutionRequest,
    MinMaxInteger,
    OfferSetResponse,
    RequestedScheduleBlock,
    RequestedScheduleItem,
    ScheduledExecutionSession,
    SimpleComputeResource,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    """What a caesar-style job needs, in the terms a user thinks in."""

    name: str
    inputs: tuple[str, ...]
    flow: str = "extract-image"
    cores_min: int = 1
    cores_max: int = 2
    memory_gib_min: int = 1
    memory_gib_max: int = 2
    duration_minutes: int = 10
    output_dir: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class PlanningFailedError(PlannerError):
    """Every attempt to get and accept an offer failed; ``reasons`` has one entry per attempt."""

    code = "planning-failed"
    status = 409
    title = "No offer could be accepted"


@dataclass(frozen=True)
class PlanDecision:
    """The accepted offer. ``attempts`` says why earlier attempts failed (empty: the first one worked)."""

    offer_set: OfferSetResponse
    choice: Choice
    session: ScheduledExecutionSession
    attempts: tuple[str, ...] = ()

    @property
    def work_pool(self) -> str:
        return self.choice.work_pool

    def deployment(self, flow: str) -> str:
        """The deployment that runs ``flow`` on the chosen pool: ``<flow>/<pool>``."""
        return f"{flow}/{self.work_pool}"


def build_request(job: JobSpec) -> ExecutionRequest:
    return ExecutionRequest(
        executable=CaesarJobExecutable(
            kind=kinds.CAESAR_JOB,
            meta=ComponentMetadata(name=job.name),
            flow=job.flow,
            inputs=list(job.inputs),
            output_dir=job.output_dir,
            options=dict(job.options),
        ),
        compute=SimpleComputeResource(
            cores=MinMaxInteger(min=job.cores_min, max=job.cores_max),
            memory=MinMaxInteger(min=job.memory_gib_min, max=job.memory_gib_max),
        ),
        schedule=RequestedScheduleBlock(requested=RequestedScheduleItem(duration=f"PT{job.duration_minutes}M")),
    )


async def plan(
    client: BrokerClient,
    job: JobSpec,
    *,
    max_attempts: int = 3,
    retry_delay_s: float = 1.0,
    avoid_pools: frozenset[str] = frozenset(),
) -> PlanDecision:
    """Request offers, choose the best, accept it (the broker rejects its siblings).

    When there is no usable offer or the accept is refused (the offer expired, or was taken or
    rejected meanwhile), ask again, up to ``max_attempts`` times with ``retry_delay_s`` between
    attempts, then raise :class:`PlanningFailedError` with every attempt's reason. Offers on
    ``avoid_pools`` (pools where the run could not start) are never chosen.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    failures: list[str] = []
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            await asyncio.sleep(retry_delay_s)
        offer_set = await client.request_offers(build_request(job))
        try:
            choice = choose(offer_set, datetime.now(UTC), avoid_pools=avoid_pools)
            uuid = choice.offer.meta.uuid if choice.offer.meta else None
            if uuid is None:
                raise NoOfferError("the chosen offer has no uuid")
            session = await client.set_phase(uuid, "ACCEPTED")
        except (NoOfferError, InvalidTransitionError) as exc:
            failures.append(f"attempt {attempt}: {exc.code}: {exc.detail}")
            logger.warning("planning %s: attempt %d of %d failed: %s", job.name, attempt, max_attempts, exc.detail)
            continue
        logger.info("accepted offer %s on work pool %s (attempt %d)", uuid, choice.work_pool, attempt)
        return PlanDecision(offer_set=offer_set, choice=choice, session=session, attempts=tuple(failures))
    raise PlanningFailedError(
        f"no offer accepted for {job.name} after {max_attempts} attempt(s): " + " | ".join(failures),
        reasons=failures,
    )
