"""In-process storage of offer sets and sessions, with an atomic accept.

This is the storage seam: the SQLAlchemy repository (SQLite/PostgreSQL) implements the same
methods. All phase changes go through :meth:`MemoryRepository.transition`, a compare-and-set under
one lock, so concurrent accepts of one offer give exactly one ACCEPTED.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from planner.errors import NotFoundError
from planner.wire.models import OfferSetResponse, ScheduledExecutionSession, SimpleExecutionSessionPhase

Phase = SimpleExecutionSessionPhase


@dataclass
class StoredOfferSet:
    offer_set: OfferSetResponse
    session_ids: list[str] = field(default_factory=list)


@dataclass
class StoredSession:
    session: ScheduledExecutionSession
    offer_set_id: str


class MemoryRepository:
    def __init__(self) -> None:
        self._offer_sets: dict[str, StoredOfferSet] = {}
        self._sessions: dict[str, StoredSession] = {}
        self._lock = asyncio.Lock()

    async def add_offer_set(self, offer_set: OfferSetResponse, sessions: Iterable[ScheduledExecutionSession]) -> None:
        assert offer_set.meta is not None and offer_set.meta.uuid is not None
        async with self._lock:
            stored = StoredOfferSet(offer_set=offer_set)
            for session in sessions:
                assert session.meta is not None and session.meta.uuid is not None
                self._sessions[session.meta.uuid] = StoredSession(session=session, offer_set_id=offer_set.meta.uuid)
                stored.session_ids.append(session.meta.uuid)
            self._offer_sets[offer_set.meta.uuid] = stored

    async def get_offer_set(self, uuid: str) -> tuple[OfferSetResponse, list[ScheduledExecutionSession]]:
        async with self._lock:
            stored = self._offer_sets.get(uuid)
            if stored is None:
                raise NotFoundError(f"no offer set with id {uuid}")
            return stored.offer_set, [self._sessions[s].session for s in stored.session_ids]

    async def get_session(self, uuid: str) -> ScheduledExecutionSession:
        async with self._lock:
            stored = self._sessions.get(uuid)
            if stored is None:
                raise NotFoundError(f"no session with id {uuid}")
            return stored.session

    async def expire(self, now: datetime) -> list[str]:
        """Move every OFFERED session past its expiry to EXPIRED; return their ids."""
        expired: list[str] = []
        async with self._lock:
            for uuid, stored in self._sessions.items():
                session = stored.session
                if session.phase == Phase.OFFERED and session.expires is not None and session.expires <= now:
                    stored.session = session.model_copy(update={"phase": Phase.EXPIRED})
                    expired.append(uuid)
        return expired

    async def transition(
        self,
        uuid: str,
        expected: frozenset[Phase],
        new: Phase,
        *,
        reject_siblings: bool = False,
        now: datetime,
    ) -> tuple[bool, ScheduledExecutionSession]:
        """Set ``new`` if the phase is in ``expected`` (compare-and-set); return (changed, session)."""
        async with self._lock:
            stored = self._sessions.get(uuid)
            if stored is None:
                raise NotFoundError(f"no session with id {uuid}")
            if stored.session.phase not in expected:
                return False, stored.session
            stored.session = _with_phase(stored.session, new, now)
            if reject_siblings:
                for sibling_id in self._offer_sets[stored.offer_set_id].session_ids:
                    sibling = self._sessions[sibling_id]
                    if sibling_id != uuid and sibling.session.phase == Phase.OFFERED:
                        sibling.session = _with_phase(sibling.session, Phase.REJECTED, now)
            return True, stored.session


def _with_phase(session: ScheduledExecutionSession, phase: Phase, now: datetime) -> ScheduledExecutionSession:
    meta = session.meta.model_copy(update={"modified": now, "options": []}) if session.meta else None
    return session.model_copy(update={"phase": phase, "meta": meta})
