"""SQL storage of offer sets and sessions (SQLite or PostgreSQL), with an atomic accept.

:class:`SqlRepository` has the methods and semantics of
:class:`planner.storage.memory.MemoryRepository`. Every phase change is one compare-and-set
``UPDATE sessions SET phase=:new WHERE uuid=:u AND phase IN (:expected)`` judged by its row count;
accepting also rejects the still-OFFERED siblings in the same transaction, so concurrent accepts
of the offers of one set give exactly one ACCEPTED.

Locking. On PostgreSQL a transition first locks its offer set's row (``SELECT … FOR UPDATE``), so
transitions within one set queue up instead of deadlocking on each other's sibling rows, and
:meth:`SqlRepository.expire` skips rows that a transition holds (``FOR UPDATE SKIP LOCKED``; the
next call picks them up). On SQLite the engine from :func:`planner.storage.database.make_engine`
has one connection and starts every transaction with ``BEGIN IMMEDIATE`` under a busy time-out,
so writers queue instead of failing with "database is locked".

SQLAlchemy and driver errors become :class:`StorageError` (503, transient).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from planner.engine.request import parse_duration, parse_interval
from planner.errors import NotFoundError, PlannerError, TransientError
from planner.storage import tables
from planner.wire.models import MessageItem, OfferSetResponse, ScheduledExecutionSession, SimpleExecutionSessionPhase

__all__ = ["SessionRecord", "SqlRepository", "StorageError"]

logger = logging.getLogger(__name__)
Phase = SimpleExecutionSessionPhase


class StorageError(PlannerError, TransientError):
    """The database could not be read or written; trying again later may succeed."""

    code = "storage-error"
    status = 503
    title = "Storage unavailable"


@dataclass(frozen=True)
class SessionRecord:
    """The columns of a session that rules need: who owns it, where it runs, which run it is."""

    uuid: str
    offer_set_id: str
    phase: Phase
    platform: str | None
    owner: str | None
    run_id: str | None


def _record(row: Any) -> SessionRecord:
    return SessionRecord(row.uuid, row.offer_set_id, Phase(row.phase), row.platform, row.owner, row.run_id)


class SqlRepository:
    """Offer sets and sessions in a SQL database reached through ``engine``.

    The schema must exist (:func:`planner.storage.database.upgrade`). The repository does not own
    the engine: whoever made it disposes of it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def _transaction(self, action: str) -> AsyncIterator[AsyncConnection]:
        """One transaction; database errors become StorageError naming ``action``."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("storage failed to %s: %s: %s", action, type(exc).__name__, exc)
            raise StorageError(f"storage failed to {action}: {type(exc).__name__}: {exc}") from exc

    async def add_offer_set(
        self, offer_set: OfferSetResponse, sessions: Iterable[ScheduledExecutionSession], owner: str | None = None
    ) -> None:
        """Store ``offer_set`` and its ``sessions`` (in this order) in one transaction.

        Raises
        ------
        ValueError
            When the offer set or a session has no ``meta.uuid``.
        StorageError
            When the database fails (also on a duplicate id).
        """
        offer_set_id = offer_set.meta.uuid if offer_set.meta else None
        if offer_set_id is None:
            raise ValueError("an offer set needs meta.uuid to be stored")
        rows = [_session_row(s, offer_set_id, position) | {"owner": owner} for position, s in enumerate(sessions)]
        document = offer_set.model_dump(mode="json", by_alias=True, exclude={"offers"})
        created = offer_set.meta.created if offer_set.meta else None
        async with self._transaction(f"store offer set {offer_set_id}") as conn:
            await conn.execute(
                insert(tables.offer_sets).values(
                    uuid=offer_set_id, result=offer_set.result, created=created, document=document, owner=owner
                )
            )
            if rows:
                await conn.execute(insert(tables.sessions), rows)

    async def get_offer_set(self, uuid: str) -> tuple[OfferSetResponse, list[ScheduledExecutionSession]]:
        """The offer set ``uuid`` and its sessions as they are now (also as its ``offers``).

        Raises
        ------
        NotFoundError
            When there is no offer set ``uuid``.
        StorageError
            When the database fails.
        """
        offer_set, members, _ = await self.read_offer_set(uuid)
        return offer_set, members

    async def read_offer_set(self, uuid: str) -> tuple[OfferSetResponse, list[ScheduledExecutionSession], str | None]:
        """The offer set ``uuid``, its sessions and its owner.

        Raises
        ------
        NotFoundError
            When there is no offer set ``uuid``.
        StorageError
            When the database fails.
        """
        async with self._transaction(f"read offer set {uuid}") as conn:
            head = (
                await conn.execute(
                    select(tables.offer_sets.c.document, tables.offer_sets.c.owner).where(
                        tables.offer_sets.c.uuid == uuid
                    )
                )
            ).one_or_none()
            rows = (
                await conn.execute(
                    select(tables.sessions)
                    .where(tables.sessions.c.offer_set_id == uuid)
                    .order_by(tables.sessions.c.position)
                )
            ).all()
        if head is None:
            raise NotFoundError(f"no offer set with id {uuid}")
        members = [_session_from_row(row) for row in rows]
        offer_set = OfferSetResponse.model_validate(head.document).model_copy(update={"offers": members})
        return offer_set, members, head.owner

    async def get_session(self, uuid: str) -> ScheduledExecutionSession:
        """The session ``uuid`` as it is now.

        Raises
        ------
        NotFoundError
            When there is no session ``uuid``.
        StorageError
            When the database fails.
        """
        return (await self.read_session(uuid))[0]

    async def read_session(self, uuid: str) -> tuple[ScheduledExecutionSession, SessionRecord]:
        """The session ``uuid`` as it is now, with its record.

        Raises
        ------
        NotFoundError
            When there is no session ``uuid``.
        StorageError
            When the database fails.
        """
        async with self._transaction(f"read session {uuid}") as conn:
            row = (await conn.execute(select(tables.sessions).where(tables.sessions.c.uuid == uuid))).one_or_none()
        if row is None:
            raise NotFoundError(f"no session with id {uuid}")
        return _session_from_row(row), _record(row)

    async def expire(self, now: datetime) -> list[str]:
        """Move every OFFERED session with ``expires <= now`` to EXPIRED; return their ids.

        One UPDATE. Rows that a concurrent transition holds are left for the next call.

        Raises
        ------
        StorageError
            When the database fails.
        """
        due = (
            select(tables.sessions.c.uuid)
            .where(tables.sessions.c.phase == Phase.OFFERED.value, tables.sessions.c.expires <= now)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(tables.sessions)
            .where(tables.sessions.c.uuid.in_(due), tables.sessions.c.phase == Phase.OFFERED.value)
            .values(phase=Phase.EXPIRED.value, modified=now)
            .returning(tables.sessions.c.uuid)
        )
        async with self._transaction("expire offers") as conn:
            expired = sorted((await conn.execute(statement)).scalars().all())
        if expired:
            logger.info("expired %d offer(s): %s", len(expired), ", ".join(expired))
        return expired

    async def transition(
        self,
        uuid: str,
        expected: frozenset[Phase],
        new: Phase,
        *,
        reject_siblings: bool = False,
        now: datetime,
        message: dict[str, Any] | None = None,
    ) -> tuple[bool, ScheduledExecutionSession]:
        """Set ``new`` if the phase is in ``expected`` (compare-and-set); return (changed, session).

        With ``reject_siblings`` a successful change also moves the other OFFERED sessions of the
        same offer set to REJECTED, in the same transaction.

        Raises
        ------
        NotFoundError
            When there is no session ``uuid``.
        StorageError
            When the database fails.
        """
        async with self._transaction(f"change session {uuid} to {new.value}") as conn:
            offer_set_id = await _lock_offer_set(conn, uuid)
            if offer_set_id is None:
                raise NotFoundError(f"no session with id {uuid}")
            cas = await conn.execute(
                update(tables.sessions)
                .where(tables.sessions.c.uuid == uuid, tables.sessions.c.phase.in_(sorted(p.value for p in expected)))
                .values(phase=new.value, modified=now)
            )
            changed = cas.rowcount == 1
            if changed and message is not None:
                await _append_message(conn, uuid, message)
            if changed and reject_siblings:
                await conn.execute(
                    update(tables.sessions)
                    .where(
                        tables.sessions.c.offer_set_id == offer_set_id,
                        tables.sessions.c.uuid != uuid,
                        tables.sessions.c.phase == Phase.OFFERED.value,
                    )
                    .values(phase=Phase.REJECTED.value, modified=now)
                )
            row = (await conn.execute(select(tables.sessions).where(tables.sessions.c.uuid == uuid))).one()
        return changed, _session_from_row(row)

    async def holdings(self, phases: frozenset[Phase], now: datetime) -> list[tuple[str, int, float]]:
        """Per platform, the cores and memory held by sessions in ``phases`` (offers past expiry excluded).

        Raises
        ------
        StorageError
            When the database fails.
        """
        c = tables.sessions.c
        offered = c.phase == Phase.OFFERED.value
        live_offer = offered & (c.expires.is_(None) | (c.expires > now))
        # An accepted session holds while its run is tracked, else until its slot ends.
        live_session = ~offered & (c.run_id.is_not(None) | c.holds_until.is_(None) | (c.holds_until > now))
        live = live_offer | live_session
        statement = (
            select(c.platform, func.coalesce(func.sum(c.cores), 0), func.coalesce(func.sum(c.memory_gib), 0.0))
            .where(c.phase.in_(sorted(p.value for p in phases)), c.platform.is_not(None), live)
            .group_by(c.platform)
        )
        async with self._transaction("read holdings") as conn:
            rows = (await conn.execute(statement)).all()
        return [(str(row[0]), int(row[1]), float(row[2])) for row in rows]

    async def records(self, phases: frozenset[Phase]) -> list[SessionRecord]:
        """Records of every session in ``phases`` (the poller's work list).

        Raises
        ------
        StorageError
            When the database fails.
        """
        c = tables.sessions.c
        statement = select(c.uuid, c.offer_set_id, c.phase, c.platform, c.owner, c.run_id).where(
            c.phase.in_(sorted(p.value for p in phases))
        )
        async with self._transaction("list sessions") as conn:
            return [_record(row) for row in (await conn.execute(statement)).all()]

    async def set_run(self, uuid: str, run_id: str) -> None:
        """Remember the platform's id of the run of session ``uuid``.

        Raises
        ------
        StorageError
            When the database fails.
        """
        async with self._transaction(f"set the run of session {uuid}") as conn:
            await conn.execute(update(tables.sessions).where(tables.sessions.c.uuid == uuid).values(run_id=run_id))

    async def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Offer sets by result and sessions by phase.

        Raises
        ------
        StorageError
            When the database fails.
        """
        sets, sessions = tables.offer_sets.c, tables.sessions.c
        async with self._transaction("count") as conn:
            by_result = (await conn.execute(select(sets.result, func.count()).group_by(sets.result))).all()
            by_phase = (await conn.execute(select(sessions.phase, func.count()).group_by(sessions.phase))).all()
        return {str(r[0]): int(r[1]) for r in by_result}, {str(r[0]): int(r[1]) for r in by_phase}


async def _append_message(conn: AsyncConnection, uuid: str, message: dict[str, Any]) -> None:
    column = tables.sessions.c.messages
    current = (await conn.execute(select(column).where(tables.sessions.c.uuid == uuid))).scalar() or []
    await conn.execute(
        update(tables.sessions).where(tables.sessions.c.uuid == uuid).values(messages=[*current, message])
    )


async def _lock_offer_set(conn: AsyncConnection, session_id: str) -> str | None:
    """Lock the offer set of ``session_id`` for this transaction (PostgreSQL); return its id."""
    owner = select(tables.sessions.c.offer_set_id).where(tables.sessions.c.uuid == session_id).scalar_subquery()
    statement = select(tables.offer_sets.c.uuid).where(tables.offer_sets.c.uuid == owner).with_for_update()
    result: str | None = (await conn.execute(statement)).scalar()
    return result


def _session_row(session: ScheduledExecutionSession, offer_set_id: str, position: int) -> dict[str, Any]:
    meta = session.meta
    if meta is None or meta.uuid is None:
        raise ValueError(f"offer {position} of offer set {offer_set_id} needs meta.uuid to be stored")
    placement = session.placement
    compute = session.compute
    return {
        "uuid": meta.uuid,
        "offer_set_id": offer_set_id,
        "position": position,
        "phase": session.phase.value,
        "expires": session.expires,
        "created": meta.created,
        "modified": meta.modified,
        "platform": placement.platform if placement else None,
        "work_pool": placement.work_pool if placement else None,
        "cores": compute.cores.min if compute and compute.cores else None,
        "memory_gib": compute.memory.min if compute and compute.memory else None,
        "document": session.model_dump(mode="json", by_alias=True),
        "holds_until": slot_end(session),
    }


def slot_end(session: ScheduledExecutionSession) -> datetime | None:
    """When the offered slot ends, releasing included (None when the offer does not say)."""
    schedule = session.schedule
    try:
        if schedule and schedule.releasing and schedule.releasing.start:
            end = parse_interval(schedule.releasing.start)[1]
            return end + (parse_duration(schedule.releasing.duration) if schedule.releasing.duration else timedelta(0))
        if schedule and schedule.available and schedule.available.start and schedule.available.duration:
            return parse_interval(schedule.available.start)[1] + parse_duration(schedule.available.duration)
    except ValueError:
        return None
    return None


def _session_from_row(row: Row[Any]) -> ScheduledExecutionSession:
    """The stored document with ``phase`` and ``meta.modified`` from the columns.

    Once the phase has moved on, the stored ``meta.options`` are stale and are dropped (as the
    in-memory repository does); the service recomputes them for the client.
    """
    session = ScheduledExecutionSession.model_validate(row.document)
    phase = Phase(row.phase)
    if session.meta is None:
        return session.model_copy(update={"phase": phase})
    meta_update: dict[str, Any] = {"modified": row.modified}
    if row.messages:
        meta_update["messages"] = [*session.meta.messages, *(MessageItem.model_validate(m) for m in row.messages)]
    if phase != session.phase:
        meta_update["options"] = []
    return session.model_copy(update={"phase": phase, "meta": session.meta.model_copy(update=meta_update)})
