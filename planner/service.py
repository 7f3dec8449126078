"""BrokerService: asks the platforms, lets the engine decide, keeps the result.

Platforms are asked concurrently, each under its own time-out; a slow or dead platform becomes a
"did not answer" verdict and never blocks or breaks the answer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from planner.adapters.base import PlatformAdapter
from planner.engine.evaluate import Evaluation, evaluate
from planner.engine.model import Offer, PlatformSnapshot, Reason, ResourceRequest
from planner.engine.request import build_resource_request
from planner.engine.scoring import ScoringWeights
from planner.errors import InvalidTransitionError, PlannerError
from planner.storage.repository import SqlRepository
from planner.wire import models as w

logger = logging.getLogger(__name__)
Phase = w.SimpleExecutionSessionPhase
Level = Literal["DEBUG", "WARN", "ERROR", "INFO", "OTHER"]
LEVELS = frozenset(get_args(Level))

CLIENT_TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.ACCEPTED: frozenset({Phase.OFFERED}),
    Phase.REJECTED: frozenset({Phase.OFFERED}),
    Phase.CANCELLED: frozenset(
        {
            Phase.INITIAL,
            Phase.OFFERED,
            Phase.ACCEPTED,
            Phase.WAITING,
            Phase.PREPARING,
            Phase.AVAILABLE,
            Phase.RUNNING,
        }
    ),
}


def allowed_updates(phase: Phase) -> list[str]:
    """Phases a client may ask for from ``phase`` (the session's ``options``)."""
    return [target.value for target, sources in CLIENT_TRANSITIONS.items() if phase in sources]


def utcnow() -> datetime:
    return datetime.now(UTC)


def message_item(reason: Reason, now: datetime) -> w.MessageItem:
    level: Level = reason.level if reason.level in LEVELS else "ERROR"  # type: ignore[assignment]
    return w.MessageItem(
        kind=reason.kind,
        time=now,
        level=level,
        template=reason.template,
        values=reason.values,
        message=reason.message,
    )


class BrokerService:
    def __init__(
        self,
        adapters: Sequence[PlatformAdapter],
        repository: SqlRepository,
        *,
        ttl: timedelta = timedelta(minutes=5),
        platform_timeout: timedelta = timedelta(seconds=5),
        weights: ScoringWeights | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.adapters = list(adapters)
        self.repository = repository
        self.ttl = ttl
        self.platform_timeout = platform_timeout
        self.weights = weights or ScoringWeights()
        self.clock = clock

    async def _snapshot(self, adapter: PlatformAdapter, request: ResourceRequest) -> PlatformSnapshot | str:
        try:
            async with asyncio.timeout(self.platform_timeout.total_seconds()):
                return await adapter.snapshot(request)
        except TimeoutError:
            return f"no answer within {self.platform_timeout.total_seconds():g} s"
        except PlannerError as exc:
            return exc.detail
        except Exception as exc:  # a broken adapter must not break the answer; it is reported instead
            logger.exception("platform %s failed while answering", adapter.name)
            return f"{type(exc).__name__}: {exc}"

    async def snapshots(self, request: ResourceRequest) -> tuple[list[PlatformSnapshot], dict[str, str]]:
        """Ask every platform at once; return the snapshots and, per failed platform, why."""
        results = await asyncio.gather(*(self._snapshot(a, request) for a in self.adapters))
        snapshots = [r for r in results if isinstance(r, PlatformSnapshot)]
        failures = {a.name: r for a, r in zip(self.adapters, results, strict=True) if isinstance(r, str)}
        return snapshots, failures

    async def request_offers(self, request: w.ExecutionRequest, base_url: str) -> w.OfferSetResponse:
        now = self.clock()
        offer_set_id = str(uuidlib.uuid4())
        resources, problems = build_resource_request(request, now)
        evaluation = Evaluation(offers=(), verdicts=())
        if resources is not None:
            snapshots, failures = await self.snapshots(resources)
            evaluation = evaluate(resources, snapshots, failures, now=now, ttl=self.ttl, weights=self.weights)
            problems = [r for v in evaluation.declined for r in v.reasons]
        sessions = [self._session(request, offer, base_url, now) for offer in evaluation.offers]
        levels = "WARN" if sessions else "ERROR"
        offer_set = w.OfferSetResponse(
            meta=w.ComponentMetadata(
                uuid=offer_set_id,
                url=f"{base_url}/offersets/{offer_set_id}",
                created=now,
                messages=[message_item(Reason(r.kind, r.template, r.values, levels), now) for r in problems],
            ),
            result="YES" if sessions else "NO",
            offers=sessions,
        )
        await self.repository.add_offer_set(offer_set, sessions)
        logger.info("offer set %s: %s with %d offer(s)", offer_set_id, offer_set.result, len(sessions))
        return offer_set

    def _session(
        self, request: w.ExecutionRequest, offer: Offer, base_url: str, now: datetime
    ) -> w.ScheduledExecutionSession:
        session_id = str(uuidlib.uuid4())
        duration = f"PT{int(offer.duration.total_seconds())}S"
        window = max(int((offer.start.latest - offer.start.earliest).total_seconds()), 0)
        return w.ScheduledExecutionSession(
            meta=w.ComponentMetadata(
                uuid=session_id,
                url=f"{base_url}/sessions/{session_id}",
                created=now,
                options=[w.EnumValueOption(path="phase", values=allowed_updates(Phase.OFFERED))],
            ),
            phase=Phase.OFFERED,
            expires=offer.expires,
            executable=request.executable,
            compute=w.SimpleComputeResource(
                cores=w.MinMaxInteger(min=offer.cores, max=offer.cores),
                memory=w.MinMaxInteger(min=offer.memory_gib, max=offer.memory_gib),
            ),
            data=request.data,
            storage=request.storage,
            schedule=w.ScheduledExecutionSchedule(
                available=w.ScheduleInstant(
                    start=f"{offer.start.earliest.isoformat(timespec='seconds')}/PT{window}S",
                    duration=duration,
                )
            ),
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

    def _past_due(self, sessions: list[w.ScheduledExecutionSession]) -> bool:
        now = self.clock()
        return any(s.phase == Phase.OFFERED and s.expires is not None and s.expires <= now for s in sessions)

    async def get_offer_set(self, uuid: str) -> w.OfferSetResponse:
        """Read an offer set; offers past their expiry are moved to EXPIRED first (reads stay reads otherwise)."""
        offer_set, sessions = await self.repository.get_offer_set(uuid)
        if self._past_due(sessions):
            await self.repository.expire(self.clock())
            offer_set, sessions = await self.repository.get_offer_set(uuid)
        return offer_set.model_copy(update={"offers": [self._present(s) for s in sessions]})

    async def get_session(self, uuid: str) -> w.ScheduledExecutionSession:
        session = await self.repository.get_session(uuid)
        if self._past_due([session]):
            await self.repository.expire(self.clock())
            session = await self.repository.get_session(uuid)
        return self._present(session)

    async def update_session(self, uuid: str, update: w.AbstractUpdate) -> w.ScheduledExecutionSession:
        """Apply a client update; only ``phase`` updates to ACCEPTED, REJECTED or CANCELLED exist."""
        now = self.clock()
        await self.repository.expire(now)
        session = await self.repository.get_session(uuid)
        path = update.path.lstrip("/")
        value = str(getattr(update, "value", ""))
        allowed = allowed_updates(session.phase)
        if path != "phase" or value not in {p.value for p in CLIENT_TRANSITIONS}:
            raise InvalidTransitionError(
                f"unsupported update {update.kind} of {update.path!r} to {value!r}; allowed: phase to one of {allowed}",
                options=allowed,
            )
        target = Phase(value)
        changed, result = await self.repository.transition(
            uuid, CLIENT_TRANSITIONS[target], target, reject_siblings=target == Phase.ACCEPTED, now=now
        )
        if not changed:
            raise InvalidTransitionError(
                f"session {uuid} is {result.phase.value}; it cannot become {target.value} "
                f"(allowed now: {allowed_updates(result.phase) or 'none'})",
                phase=result.phase.value,
                options=allowed_updates(result.phase),
            )
        return self._present(result)

    def _present(self, session: w.ScheduledExecutionSession) -> w.ScheduledExecutionSession:
        options = allowed_updates(session.phase)
        meta = session.meta or w.ComponentMetadata()
        meta = meta.model_copy(update={"options": [w.EnumValueOption(path="phase", values=options)] if options else []})
        return session.model_copy(update={"meta": meta})
