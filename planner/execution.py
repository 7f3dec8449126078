"""Runs accepted sessions on platforms that can launch them, and moves their phases on.

The rules (which phase follows which) are :mod:`planner.engine.lifecycle`'s; this module does the
I/O: start a run when a session is accepted, poll the runs of active sessions, cancel a run when
its session is cancelled. A platform that cannot launch leaves its sessions ACCEPTED (the client
runs the work itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from planner.adapters.base import LaunchingAdapter, PlatformAdapter
from planner.engine.lifecycle import ACTIVE, LaunchSpec, RunStatus, advance, steps_to
from planner.engine.model import Reason
from planner.engine.request import parse_duration, parse_interval
from planner.errors import PlannerError
from planner.offers import message_item
from planner.storage.repository import SessionRecord, SqlRepository
from planner.wire import models as w

logger = logging.getLogger(__name__)
Phase = w.SimpleExecutionSessionPhase


def launcher_of(adapter: PlatformAdapter) -> LaunchingAdapter | None:
    """The launching side of ``adapter`` (also through a wrapper that keeps it as ``.adapter``)."""
    for candidate in (adapter, getattr(adapter, "adapter", None)):
        if isinstance(candidate, LaunchingAdapter):
            return candidate
    return None


def message_dict(reason: Reason, now: datetime) -> dict[str, Any]:
    return message_item(reason, now).model_dump(mode="json")


def build_launch_spec(session: w.ScheduledExecutionSession, now: datetime, output_root: Path) -> LaunchSpec:
    """What the platform needs from an accepted offer; a caesar job without an output directory
    gets ``<output_root>/<session uuid>``."""
    placement = session.placement
    compute = session.compute
    start, duration = now, timedelta(minutes=10)
    available = session.schedule.available if session.schedule else None
    if available and available.start:
        start = parse_interval(available.start)[0]
    if available and available.duration:
        duration = parse_duration(available.duration)
    session_id = session.meta.uuid if session.meta and session.meta.uuid else ""
    executable = (
        session.executable.model_dump(mode="json", by_alias=True, exclude_none=True) if session.executable else {}
    )
    if isinstance(session.executable, w.CaesarJobExecutable) and not (
        session.executable.output_dir or session.executable.options.get("output_dir")
    ):
        executable["output_dir"] = str(output_root / session_id)
    return LaunchSpec(
        session_id=session_id,
        platform=placement.platform if placement else "",
        work_pool=placement.work_pool if placement else "",
        executable=executable,
        cores=compute.cores.min if compute and compute.cores and compute.cores.min else 1,
        memory_gib=compute.memory.min if compute and compute.memory and compute.memory.min else 1,
        start=start,
        duration=duration,
        data=[d.model_dump(mode="json", by_alias=True, exclude_none=True) for d in session.data],
        volumes=[v.model_dump(mode="json", by_alias=True, exclude_none=True) for v in compute.volumes]
        if compute
        else [],
    )


class SessionRunner:
    """Starts, polls and cancels the runs of sessions on launching platforms."""

    def __init__(
        self,
        adapters: Sequence[PlatformAdapter],
        repository: SqlRepository,
        clock: Callable[[], datetime],
        output_root: Path = Path("var/outputs"),
    ) -> None:
        self.output_root = output_root
        self.launchers = {a.name: launcher for a in adapters if (launcher := launcher_of(a)) is not None}
        self.repository = repository
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    def launches(self, platform: str | None) -> bool:
        return platform is not None and platform in self.launchers

    async def start(self, session: w.ScheduledExecutionSession, record: SessionRecord) -> None:
        """Create the run of a just-accepted session; a refused or failed start ends it FAILED."""
        launcher = self.launchers.get(record.platform or "")
        now = self.clock()
        spec = build_launch_spec(session, now, self.output_root)
        if launcher is None or not launcher.accepts(spec):
            return
        try:
            run_id = await launcher.start(spec)
        except (PlannerError, OSError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, PlannerError) else f"{type(exc).__name__}: {exc}"
            logger.warning("session %s: start on %s failed: %s", record.uuid, record.platform, detail)
            reason = Reason(
                "urn:platform-start-failed", "The platform could not start the run: ${detail}", {"detail": detail}
            )
            await self.repository.transition(
                record.uuid, ACTIVE, Phase.FAILED, now=now, message=message_dict(reason, now)
            )
            return
        await self.repository.set_run(record.uuid, run_id)
        await self._apply(record.uuid, Phase.ACCEPTED, RunStatus(Phase.WAITING, "started", f"run {run_id} created"))

    async def refresh(self, record: SessionRecord) -> None:
        """Poll the run of one active session and move its phase on."""
        launcher = self.launchers.get(record.platform or "")
        if launcher is None or record.run_id is None or record.phase not in ACTIVE:
            return
        lock = self._locks.setdefault(record.uuid, asyncio.Lock())
        async with lock:
            try:
                status = await launcher.poll(record.run_id)
            except (PlannerError, OSError) as exc:
                logger.warning("session %s: poll of run %s failed: %s", record.uuid, record.run_id, exc)
                return
            current = (await self.repository.read_session(record.uuid))[1].phase
            await self._apply(record.uuid, current, status)
            if current not in ACTIVE or status.phase not in ACTIVE:
                self._locks.pop(record.uuid, None)

    async def _apply(self, uuid: str, current: Phase, status: RunStatus) -> None:
        target = advance(current, status.phase)
        if target is None:
            return
        for phase in steps_to(current, target):
            now = self.clock()
            reason = Reason(
                "urn:platform-state",
                "Platform reports ${state}: ${detail}",
                {"state": status.state, "detail": status.detail},
                level=status.level if phase == target else "INFO",
            )
            changed, _ = await self.repository.transition(
                uuid,
                frozenset({current}),
                phase,
                now=now,
                message=message_dict(reason, now) if phase == target else None,
            )
            if not changed:
                return
            current = phase

    async def cancel(self, record: SessionRecord) -> None:
        launcher = self.launchers.get(record.platform or "")
        if launcher is None or record.run_id is None:
            return
        try:
            await launcher.cancel(record.run_id)
        except (PlannerError, OSError) as exc:
            logger.warning("session %s: cancel of run %s failed: %s", record.uuid, record.run_id, exc)

    async def refresh_all(self) -> None:
        """Poll every active session with a run (the background poller's step)."""
        if not self.launchers:
            return
        records = await self.repository.records(ACTIVE)
        await asyncio.gather(*(self.refresh(r) for r in records if r.run_id and self.launches(r.platform)))

    async def poll_forever(
        self, interval: timedelta, expire: Callable[[], Any], stop: asyncio.Event | None = None
    ) -> None:
        """Refresh runs and expire offers every ``interval`` until ``stop`` is set (between two rounds, so a
        round's database work is never cut off) or the task is cancelled."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await expire()
                await self.refresh_all()
            except PlannerError as exc:
                logger.warning("session poller: %s", exc.detail)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval.total_seconds())
