"""The broker's background poller stops between rounds: a round's database work is never cut off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import cast

from planner.execution import SessionRunner
from planner.storage.repository import SqlRepository


def _runner() -> SessionRunner:
    # No launching platform: refresh_all returns before touching the repository.
    return SessionRunner([], cast(SqlRepository, None), clock=lambda: datetime.now(UTC))


async def test_stop_during_a_round_lets_it_finish_and_starts_no_other() -> None:
    stop, rounds = asyncio.Event(), []

    async def expire() -> None:
        rounds.append("start")
        stop.set()  # shutdown asked while the round works
        await asyncio.sleep(0.05)
        rounds.append("end")

    task = asyncio.create_task(_runner().poll_forever(timedelta(seconds=60), expire, stop))
    await asyncio.wait_for(task, 5)
    assert rounds == ["start", "end"]
    assert not task.cancelled()


async def test_stop_ends_the_wait_between_rounds() -> None:
    stop, done, rounds = asyncio.Event(), asyncio.Event(), []

    async def expire() -> None:
        rounds.append("round")
        done.set()

    task = asyncio.create_task(_runner().poll_forever(timedelta(seconds=60), expire, stop))
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0.05)  # into the wait for the next round
    stop.set()
    await asyncio.wait_for(task, 5)  # not the 60 s interval
    assert rounds == ["round"]
