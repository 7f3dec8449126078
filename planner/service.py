"""BrokerService: asks the platforms, lets the engine decide, keeps the result.

Platforms are asked concurrently, each under its own time-out; a slow or dead platform becomes a
"did not answer" verdict and never blocks or breaks the answer. Reading the capacity held by live
offers, evaluating and storing the new offers happen under one lock, so concurrent requests never
offer the same capacity twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from planner.adapters.base import PlatformAdapter
from planner.auth import Authenticator, Caller
from planner.engine.evaluate import Evaluation, evaluate
from planner.engine.ledger import Holding, split_by_room
from planner.engine.lifecycle import ACTIVE, CLIENT_TRANSITIONS, HOLDING, allowed_updates, is_expired
from planner.engine.model import PlatformSnapshot, Reason, ResourceRequest
from planner.engine.request import SUPPORTED_EXECUTABLES, build_resource_request
from planner.engine.scoring import ScoringWeights
from planner.errors import InvalidTransitionError, PlannerError
from planner.execution import SessionRunner
from planner.offers import build_session, message_item
from planner.storage.repository import SessionRecord, SqlRepository
from planner.wire import kinds
from planner.wire import models as w

__all__ = ["BrokerService", "allowed_updates", "message_item"]

logger = logging.getLogger(__name__)
Phase = w.SimpleExecutionSessionPhase


def utcnow() -> datetime:
    return datetime.now(UTC)


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
        authenticator: Authenticator | None = None,
        compat_calycopis: bool = False,
        supported: frozenset[str] = SUPPORTED_EXECUTABLES,
        output_root: Path = Path("var/outputs"),
    ) -> None:
        self.adapters = list(adapters)
        self.repository = repository
        self.ttl = ttl
        self.platform_timeout = platform_timeout
        self.weights = weights or ScoringWeights()
        self.clock = clock
        self.auth = authenticator or Authenticator({})
        self.compat_calycopis = compat_calycopis
        self.supported = supported
        self.runner = SessionRunner(self.adapters, repository, clock, output_root)
        self._offer_lock = asyncio.Lock()

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

    async def request_offers(
        self, request: w.ExecutionRequest, base_url: str, caller: Caller | None = None
    ) -> w.OfferSetResponse:
        """Evaluate ``request`` and store the offer set (YES with offers, or NO with reasons)."""
        caller = caller or Caller(None)
        self.auth.require(caller)
        resources, problems = build_resource_request(request, self.clock(), self.supported)
        if resources is None:
            return await self._store(request, resources, Evaluation((), ()), problems, base_url, caller)
        snapshots, failures = await self.snapshots(resources)
        async with self._offer_lock:
            now = self.clock()
            holdings = [Holding(*h) for h in await self.repository.holdings(HOLDING, now)]
            fits, full = split_by_room(resources, snapshots, holdings)
            evaluation = evaluate(resources, fits, failures, now=now, ttl=self.ttl, weights=self.weights)
            evaluation = Evaluation(evaluation.offers, evaluation.verdicts + tuple(full))
            problems = [r for v in evaluation.declined for r in v.reasons]
            return await self._store(request, resources, evaluation, problems, base_url, caller)

    async def _store(
        self,
        request: w.ExecutionRequest,
        resources: ResourceRequest | None,
        evaluation: Evaluation,
        problems: list[Reason],
        base_url: str,
        caller: Caller,
    ) -> w.OfferSetResponse:
        now = self.clock()
        offer_set_id = str(uuidlib.uuid4())
        sessions = [build_session(request, resources, offer, base_url, now) for offer in evaluation.offers]
        level = "WARN" if sessions else "ERROR"
        items = [message_item(Reason(r.kind, r.template, r.values, level), now) for r in problems]
        offer_set = w.OfferSetResponse(
            meta=w.ComponentMetadata(
                uuid=offer_set_id,
                url=f"{base_url}/offersets/{offer_set_id}",
                created=now,
                messages=items,
            ),
            result="YES" if sessions else "NO",
            offers=sessions,
        )
        await self.repository.add_offer_set(offer_set, sessions, owner=caller.owner)
        logger.info("offer set %s: %s with %d offer(s)", offer_set_id, offer_set.result, len(sessions))
        return offer_set

    async def _expire_if_due(self, sessions: list[w.ScheduledExecutionSession]) -> bool:
        now = self.clock()
        if any(is_expired(s.phase, s.expires, now) for s in sessions):
            await self.repository.expire(now)
            return True
        return False

    async def expire(self) -> list[str]:
        return await self.repository.expire(self.clock())

    async def get_offer_set(self, uuid: str, caller: Caller | None = None) -> w.OfferSetResponse:
        """Read an offer set; offers past their expiry are moved to EXPIRED first."""
        offer_set, sessions, owner = await self.repository.read_offer_set(uuid)
        self.auth.check_read(caller or Caller(None), owner, f"offer set {uuid}")
        if await self._expire_if_due(sessions):
            offer_set, sessions, owner = await self.repository.read_offer_set(uuid)
        return offer_set.model_copy(update={"offers": [self._present(s) for s in sessions]})

    async def get_session(self, uuid: str, caller: Caller | None = None) -> w.ScheduledExecutionSession:
        """Read a session (expiring it, or refreshing its run, first when due)."""
        session, record = await self.repository.read_session(uuid)
        self.auth.check_read(caller or Caller(None), record.owner, f"session {uuid}")
        if await self._expire_if_due([session]):
            session, record = await self.repository.read_session(uuid)
        elif record.phase in ACTIVE and record.run_id and self.runner.launches(record.platform):
            await self.runner.refresh(record)
            session, record = await self.repository.read_session(uuid)
        return self._present(session, record)

    async def update_session(
        self, uuid: str, update: w.AbstractUpdate, caller: Caller | None = None
    ) -> w.ScheduledExecutionSession:
        """Apply a client update; only ``phase`` updates to ACCEPTED, REJECTED or CANCELLED exist.

        Raises
        ------
        InvalidTransitionError
            When the update is unknown or the phase change not allowed now (strict mode only; in
            Calycopis-compatible mode the unchanged session comes back with an ERROR message).
        """
        _, record = await self.repository.read_session(uuid)
        self.auth.check_write(caller or Caller(None), record.owner, f"session {uuid}")
        try:
            return await self._transition(uuid, update)
        except InvalidTransitionError as exc:
            if not self.compat_calycopis:
                raise
            current = await self.get_session(uuid, caller)
            error = message_item(Reason("urn:invalid-transition", "${detail}", {"detail": exc.detail}), self.clock())
            meta = current.meta or w.ComponentMetadata()
            return current.model_copy(update={"meta": meta.model_copy(update={"messages": [*meta.messages, error]})})

    async def _transition(self, uuid: str, update: w.AbstractUpdate) -> w.ScheduledExecutionSession:
        now = self.clock()
        await self.repository.expire(now)
        session, record = await self.repository.read_session(uuid)
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
        if target == Phase.ACCEPTED and self.runner.launches(record.platform):
            await self.runner.start(result, record)
            result, record = await self.repository.read_session(uuid)
        elif target == Phase.CANCELLED:
            await self.runner.cancel(record)
        return self._present(result, record)

    async def direct(
        self, request: w.ExecutionRequest, base_url: str, caller: Caller | None = None
    ) -> tuple[w.ScheduledExecutionSession, bool]:
        """Direct execution: offers, then accept the best at once. Returns (session, accepted).

        When nothing can be offered the session is not stored: it comes back FAILED with the reasons.
        """
        offer_set = await self.request_offers(request, base_url, caller)
        if offer_set.result == "YES" and offer_set.offers:
            best = offer_set.offers[0]
            uuid = best.meta.uuid if best.meta and best.meta.uuid else ""
            update = w.EnumValueUpdate(path="phase", value=Phase.ACCEPTED.value)
            return await self.update_session(uuid, update, caller), True
        messages = offer_set.meta.messages if offer_set.meta else []
        failed = w.ScheduledExecutionSession(
            phase=Phase.FAILED,
            executable=request.executable,
            compute=request.compute,
            meta=w.ComponentMetadata(created=self.clock(), messages=messages),
        )
        return failed, False

    async def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Stored offer sets by result and sessions by phase (for /metrics)."""
        return await self.repository.counts()

    def _present(
        self, session: w.ScheduledExecutionSession, record: SessionRecord | None = None
    ) -> w.ScheduledExecutionSession:
        options = allowed_updates(session.phase)
        meta = session.meta or w.ComponentMetadata()
        meta = meta.model_copy(update={"options": [w.EnumValueOption(path="phase", values=options)] if options else []})
        update: dict[str, object] = {"meta": meta}
        if record is not None and record.run_id:
            update["connectors"] = [self._run_connector(record, session.phase)]
        return session.model_copy(update=update)

    def _run_connector(self, record: SessionRecord, phase: Phase) -> dict[str, str]:
        """Where the session's run can be followed: its Prefect flow run (the id is the last segment)."""
        base = getattr(self.runner.launchers.get(record.platform or ""), "api_url", None)
        return {
            "kind": kinds.RUN_CONNECTOR,
            "protocol": "HTTP",
            "location": f"{base}/flow_runs/{record.run_id}" if base else str(record.run_id),
            "status": "AVAILABLE" if phase in ACTIVE else "FINISHED",
        }
