"""SqlRepository on SQLite (a temp file) and on a real PostgreSQL, migrated by alembic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from planner.errors import NotFoundError, TransientError
from planner.storage.database import default_url, make_engine, upgrade
from planner.storage.repository import SqlRepository, StorageError
from planner.storage.tables import metadata
from planner.wire import models as w
from tests.services.postgres import create_database

Phase = w.SimpleExecutionSessionPhase
OFFERED = frozenset({Phase.OFFERED})
T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
BASE_URL = "http://broker.test"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind, migrated to head by ``upgrade``."""
    if request.param == "sqlite":
        url = default_url(tmp_path / "home")
    else:
        url = asyncio.run(create_database(request.getfixturevalue("postgres_url")))
    upgrade(url)
    return url


@pytest.fixture
async def repository(database_url: str) -> AsyncIterator[SqlRepository]:
    engine = make_engine(database_url)
    try:
        yield SqlRepository(engine)
    finally:
        await engine.dispose()


def build_session(index: int, *, expires: datetime, platform: str = "local") -> w.ScheduledExecutionSession:
    session_id = f"00000000-0000-4000-8000-{index:012d}"
    return w.ScheduledExecutionSession(
        meta=w.ComponentMetadata(
            uuid=session_id,
            url=f"{BASE_URL}/sessions/{session_id}",
            created=T0,
            options=[w.EnumValueOption(path="phase", values=["ACCEPTED", "REJECTED", "CANCELLED"])],
        ),
        phase=Phase.OFFERED,
        expires=expires,
        executable=w.CaesarJobExecutable(options={"seedThr": 5.0}, inputs=[f"tile_{index:02d}.fits"]),
        compute=w.SimpleComputeResource(cores=w.MinMaxInteger(min=4, max=4), memory=w.MinMaxInteger(min=8, max=8)),
        schedule=w.ScheduledExecutionSchedule(available=w.ScheduleInstant(start="2026-10-05T08:05:00+00:00/PT60S")),
        **{
            "x-cirasa-placement": w.PlatformPlacement(
                platform=platform,
                platform_kind="prefect-pool",
                work_pool=f"pool-{platform}",
                score=0.75 - index / 100,
                score_terms={"start": 0.5, "fit": 0.25},
                start_earliest=T0 + timedelta(minutes=5),
                start_latest=T0 + timedelta(minutes=6),
                start_source="idle workers",
            )
        },
    )


_counter = iter(range(1, 1_000_000))


def build_offer_set(*expires: datetime) -> tuple[w.OfferSetResponse, list[w.ScheduledExecutionSession]]:
    """An offer set with one OFFERED session per ``expires`` (default: three, expiring at T0 + 5 min)."""
    expiries = expires or (T0 + timedelta(minutes=5),) * 3
    sessions = [build_session(next(_counter), expires=e, platform=f"p{i}") for i, e in enumerate(expiries)]
    offer_set_id = f"10000000-0000-4000-8000-{next(_counter):012d}"
    offer_set = w.OfferSetResponse(
        meta=w.ComponentMetadata(
            uuid=offer_set_id,
            url=f"{BASE_URL}/offersets/{offer_set_id}",
            created=T0,
            messages=[w.MessageItem(kind="urn:cirasa:declined", time=T0, level="WARN", message="slurm: busy")],
        ),
        result="YES",
        offers=sessions,
    )
    return offer_set, sessions


def uid(component: w.AbstractComponent) -> str:
    assert component.meta is not None and component.meta.uuid is not None
    return component.meta.uuid


def ids(sessions: list[w.ScheduledExecutionSession]) -> list[str]:
    return [uid(s) for s in sessions]


async def test_round_trip_returns_equal_models(repository: SqlRepository) -> None:
    offer_set, sessions = build_offer_set()
    await repository.add_offer_set(offer_set, sessions)

    read_set, read_sessions = await repository.get_offer_set(uid(offer_set))
    assert read_set == offer_set
    assert read_sessions == sessions
    assert read_sessions[0].placement == sessions[0].placement
    assert [await repository.get_session(i) for i in ids(sessions)] == sessions


async def test_expire_moves_only_past_due_offered_sessions(repository: SqlRepository) -> None:
    minute = timedelta(minutes=1)
    offer_set, sessions = build_offer_set(T0 - minute, T0, T0 + minute)
    accepted_set, accepted = build_offer_set(T0 - minute, T0 - minute)
    await repository.add_offer_set(offer_set, sessions)
    await repository.add_offer_set(accepted_set, accepted)
    await repository.transition(ids(accepted)[0], OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0 - 2 * minute)

    assert await repository.expire(T0) == sorted(ids(sessions)[:2])
    assert await repository.expire(T0) == []
    _, now = await repository.get_offer_set(uid(offer_set))
    assert [s.phase for s in now] == [Phase.EXPIRED, Phase.EXPIRED, Phase.OFFERED]
    assert [s.meta.modified for s in now if s.meta] == [T0, T0, None]
    _, untouched = await repository.get_offer_set(uid(accepted_set))
    assert [s.phase for s in untouched] == [Phase.ACCEPTED, Phase.REJECTED]


async def test_accept_rejects_siblings_in_the_same_transaction(repository: SqlRepository) -> None:
    offer_set, sessions = build_offer_set()
    await repository.add_offer_set(offer_set, sessions)
    first, *others = ids(sessions)
    now = T0 + timedelta(seconds=30)

    changed, session = await repository.transition(first, OFFERED, Phase.ACCEPTED, reject_siblings=True, now=now)

    assert changed
    assert session.phase == Phase.ACCEPTED
    assert session.meta is not None and session.meta.modified == now and session.meta.options == []
    assert session.model_copy(update={"phase": Phase.OFFERED, "meta": sessions[0].meta}) == sessions[0]
    for other in others:
        sibling = await repository.get_session(other)
        assert sibling.phase == Phase.REJECTED
        assert sibling.meta is not None and sibling.meta.modified == now


async def test_second_accept_returns_unchanged_current_phase(repository: SqlRepository) -> None:
    offer_set, sessions = build_offer_set()
    await repository.add_offer_set(offer_set, sessions)
    first, second, _ = ids(sessions)
    await repository.transition(first, OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0)

    again = await repository.transition(first, OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0 + timedelta(1))
    sibling = await repository.transition(second, OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0)

    assert (again[0], again[1].phase) == (False, Phase.ACCEPTED)
    assert again[1].meta is not None and again[1].meta.modified == T0
    assert (sibling[0], sibling[1].phase) == (False, Phase.REJECTED)


async def test_50_concurrent_accepts_of_one_offer_change_it_once(repository: SqlRepository) -> None:
    offer_set, sessions = build_offer_set()
    await repository.add_offer_set(offer_set, sessions)
    target = ids(sessions)[1]

    results = await asyncio.gather(
        *(repository.transition(target, OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0) for _ in range(50))
    )

    assert sum(changed for changed, _ in results) == 1
    assert {session.phase for _, session in results} == {Phase.ACCEPTED}
    _, now = await repository.get_offer_set(uid(offer_set))
    assert [s.phase for s in now] == [Phase.REJECTED, Phase.ACCEPTED, Phase.REJECTED]


async def test_50_concurrent_accepts_across_siblings_accept_exactly_one(repository: SqlRepository) -> None:
    offer_set, sessions = build_offer_set()
    await repository.add_offer_set(offer_set, sessions)
    targets = [ids(sessions)[i % 3] for i in range(50)]

    results = await asyncio.gather(
        *(repository.transition(t, OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0) for t in targets)
    )

    winners = {target for target, (changed, _) in zip(targets, results, strict=True) if changed}
    assert len(winners) == 1 and sum(changed for changed, _ in results) == 1
    _, now = await repository.get_offer_set(uid(offer_set))
    assert {s.meta.uuid: s.phase for s in now if s.meta} == {
        i: Phase.ACCEPTED if i in winners else Phase.REJECTED for i in ids(sessions)
    }


async def test_concurrent_accepts_through_two_engines_accept_exactly_one(database_url: str) -> None:
    engines = [make_engine(database_url), make_engine(database_url)]
    try:
        repositories = [SqlRepository(e) for e in engines]
        offer_set, sessions = build_offer_set()
        await repositories[0].add_offer_set(offer_set, sessions)
        calls = [
            repositories[i % 2].transition(ids(sessions)[i % 3], OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0)
            for i in range(40)
        ]
        results = await asyncio.gather(*calls)
        assert sum(changed for changed, _ in results) == 1
        _, now = await repositories[1].get_offer_set(uid(offer_set))
        assert sorted(s.phase for s in now) == [Phase.ACCEPTED, Phase.REJECTED, Phase.REJECTED]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_concurrent_expiry_and_accepts_end_consistent(repository: SqlRepository) -> None:
    offer_set, sessions = build_offer_set(T0, T0, T0)
    await repository.add_offer_set(offer_set, sessions)
    accepts = [
        repository.transition(ids(sessions)[i % 3], OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0)
        for i in range(20)
    ]

    results = await asyncio.gather(*accepts, *(repository.expire(T0) for _ in range(20)))
    await repository.expire(T0)

    changed = [r for r in results[:20] if isinstance(r, tuple) and r[0]]
    phases = [s.phase for s in (await repository.get_offer_set(uid(offer_set)))[1]]
    assert len(changed) == phases.count(Phase.ACCEPTED) <= 1
    assert Phase.OFFERED not in phases


async def test_restart_loses_nothing_and_still_expires(database_url: str) -> None:
    offer_set, sessions = build_offer_set()
    accepted_set, accepted = build_offer_set()
    engine = make_engine(database_url)
    before = SqlRepository(engine)
    await before.add_offer_set(offer_set, sessions)
    await before.add_offer_set(accepted_set, accepted)
    _, accepted_session = await before.transition(
        ids(accepted)[2], OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0
    )
    await engine.dispose()

    engine = make_engine(database_url)
    try:
        after = SqlRepository(engine)
        assert await after.get_offer_set(uid(offer_set)) == (offer_set, sessions)
        assert await after.get_session(ids(accepted)[2]) == accepted_session
        assert await after.expire(T0 + timedelta(minutes=5)) == sorted(ids(sessions))
        assert {(await after.get_session(i)).phase for i in ids(sessions)} == {Phase.EXPIRED}
    finally:
        await engine.dispose()


async def test_unknown_ids_raise_not_found(repository: SqlRepository) -> None:
    with pytest.raises(NotFoundError, match="no offer set with id nope"):
        await repository.get_offer_set("nope")
    with pytest.raises(NotFoundError, match="no session with id nope"):
        await repository.get_session("nope")
    with pytest.raises(NotFoundError, match="no session with id nope"):
        await repository.transition("nope", OFFERED, Phase.ACCEPTED, reject_siblings=True, now=T0)


def _schema(conn: Connection) -> tuple[list[str], list[object]]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return sorted(inspect(conn).get_table_names()), compare_metadata(context, metadata)


async def test_upgrade_creates_tables_that_match_the_models(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)  # a second upgrade is a no-op
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables, diff = await conn.run_sync(_schema)
    finally:
        await engine.dispose()
    assert tables == ["alembic_version", "offer_sets", "sessions"]
    assert diff == []


async def test_database_errors_become_storage_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}")
    try:
        with pytest.raises(StorageError, match="storage failed to read session x: OperationalError") as caught:
            await SqlRepository(engine).get_session("x")
    finally:
        await engine.dispose()
    assert isinstance(caught.value, TransientError)
    assert (caught.value.code, caught.value.status) == ("storage-error", 503)


def test_upgrade_of_unreachable_database_raises_storage_error() -> None:
    with pytest.raises(StorageError, match="cannot migrate"):
        upgrade("postgresql://nobody@127.0.0.1:1/none")


async def test_accepted_sessions_hold_capacity_until_their_slot_ends_unless_a_run_is_tracked(
    repository: SqlRepository,
) -> None:
    slot = w.ScheduledExecutionSchedule(
        available=w.ScheduleInstant(start="2026-10-05T08:05:00+00:00/PT60S", duration="PT10M"),
        releasing=w.ScheduleInstant(start="2026-10-05T08:16:00+00:00", duration="PT2M"),
    )
    accepted = []
    for _ in range(2):  # one offer set each, so that accepting one does not reject the other
        offer_set, sessions = build_offer_set(T0 + timedelta(minutes=5))
        session = sessions[0].model_copy(update={"schedule": slot})
        await repository.add_offer_set(offer_set.model_copy(update={"offers": [session]}), [session])
        await repository.transition(uid(session), frozenset({Phase.OFFERED}), Phase.ACCEPTED, now=T0)
        accepted.append(session)
    await repository.set_run(uid(accepted[0]), "flow-run-1")  # the broker runs this one itself
    phases = frozenset({Phase.OFFERED, Phase.ACCEPTED, Phase.WAITING, Phase.RUNNING})

    during = {platform: cores for platform, cores, _ in await repository.holdings(phases, T0 + timedelta(minutes=10))}
    assert during == {"p0": 8}  # both sessions are on platform p0 (4 cores each), inside their slot
    after = {platform: cores for platform, cores, _ in await repository.holdings(phases, T0 + timedelta(minutes=19))}
    assert after == {"p0": 4}, "only the session whose run is tracked still holds after its slot (08:18)"
