"""A platform with fixed, declared capacity: for operators describing a machine with no scheduler,
and for tests that need a real :class:`PlatformAdapter` with known answers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from planner.engine.model import PlatformSnapshot, ResourceRequest, StartBand


class StaticAdapter:
    """Answers with ``snapshot``; its start band is re-based on the current time at each call.

    ``delay_s`` makes it slow (to exercise time-outs); ``start_in`` shifts the start band.
    """

    def __init__(self, snapshot: PlatformSnapshot, *, delay_s: float = 0.0, start_in: timedelta = timedelta(0)) -> None:
        self.name = snapshot.name
        self._snapshot = snapshot
        self.delay_s = delay_s
        self.start_in = start_in

    async def snapshot(self, request: ResourceRequest) -> PlatformSnapshot:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not self._snapshot.available:
            return self._snapshot
        now = datetime.now(UTC) + self.start_in
        return replace(self._snapshot, start=StartBand(now, now + timedelta(seconds=30), "declared (static platform)"))
