"""The planner's client side: ask a broker for offers, choose one, accept it, name the deployment.

Shared by the planner task in ``flows/``, ``cirasa plan`` and ``cirasa demo``, so all of them
decide the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from planner.client import BrokerClient
from planner.engine.choose import Choice, choose
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


@dataclass(frozen=True)
class PlanDecision:
    offer_set: OfferSetResponse
    choice: Choice
    session: ScheduledExecutionSession

    @property
    def work_pool(self) -> str:
        return self.choice.work_pool

    def deployment(self, flow: str) -> str:
        """The deployment that runs ``flow`` on the chosen pool: ``<flow>/<pool>``."""
        return f"{flow}/{self.work_pool}"


def build_request(job: JobSpec) -> ExecutionRequest:
    return ExecutionRequest(
        executable=CaesarJobExecutable(
            kind=kinds.CAESAR_JOB, meta=ComponentMetadata(name=job.name), flow=job.flow, inputs=list(job.inputs)
        ),
        compute=SimpleComputeResource(
            cores=MinMaxInteger(min=job.cores_min, max=job.cores_max),
            memory=MinMaxInteger(min=job.memory_gib_min, max=job.memory_gib_max),
        ),
        schedule=RequestedScheduleBlock(requested=RequestedScheduleItem(duration=f"PT{job.duration_minutes}M")),
    )


async def plan(client: BrokerClient, job: JobSpec) -> PlanDecision:
    """Request offers, choose the best, accept it (the broker rejects its siblings)."""
    offer_set = await client.request_offers(build_request(job))
    choice = choose(offer_set, datetime.now(UTC))
    uuid = choice.offer.meta.uuid if choice.offer.meta else None
    if uuid is None:
        raise ValueError("the chosen offer has no uuid")
    session = await client.set_phase(uuid, "ACCEPTED")
    logger.info("accepted offer %s on work pool %s", uuid, choice.work_pool)
    return PlanDecision(offer_set=offer_set, choice=choice, session=session)
