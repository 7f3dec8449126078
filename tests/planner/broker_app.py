"""The broker the conformance tests serve with uvicorn, and a platform that really runs processes.

``create()`` (a uvicorn ``--factory``) reads ``CIRASA_TEST_*`` variables: the work root of the
process platform, and the broker settings (``CIRASA_BROKER_*``) as usual.

:class:`ProcessPlatform` is a real :class:`~planner.adapters.base.LaunchingAdapter` with declared
capacity: it runs a DockerContainer's ``command`` as a local process (no container runtime here),
with the data resources mounted by copying them into ``<work>/<session>/<mount path>`` and the
output directory ``<work>/<session>/output`` copied to ``environment.OUTPUT_TO`` on release.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from planner.adapters.static import StaticAdapter
from planner.api.app import create_app
from planner.engine.lifecycle import LaunchSpec, RunStatus
from planner.engine.model import PlatformKind, PlatformSnapshot, ResourceRequest
from planner.errors import NotFoundError, PlatformRejectedError
from planner.settings import BrokerSettings
from planner.wire.models import SimpleExecutionSessionPhase as Phase


def declared(name: str, cores: int, memory_gib: int) -> PlatformSnapshot:
    return PlatformSnapshot(
        name=name,
        kind=PlatformKind.PREFECT_POOL,
        work_pool=f"pool-{name}",
        available=True,
        total_cores=cores,
        free_cores=cores,
        total_memory_gib=memory_gib,
        free_memory_gib=memory_gib,
    )


@dataclass
class Run:
    spec: LaunchSpec
    workdir: Path
    phase: Phase = Phase.WAITING
    detail: str = ""
    task: asyncio.Task[None] | None = None
    process: asyncio.subprocess.Process | None = None
    log: list[str] = field(default_factory=list)


class ProcessPlatform:
    """Declared capacity (a StaticAdapter) plus local processes for accepted sessions."""

    def __init__(self, snapshot: PlatformSnapshot, work: Path) -> None:
        self.name = snapshot.name
        self._static = StaticAdapter(snapshot)
        self.work = work
        self.runs: dict[str, Run] = {}

    async def snapshot(self, request: ResourceRequest) -> PlatformSnapshot:
        return await self._static.snapshot(request)

    def accepts(self, spec: LaunchSpec) -> bool:
        return True

    async def start(self, spec: LaunchSpec) -> str:
        for run_id, run in self.runs.items():
            if run.spec.session_id == spec.session_id:
                return run_id  # idempotent per session
        command = spec.executable.get("command")
        if not isinstance(command, list) or not command:
            raise PlatformRejectedError("this platform runs a DockerContainer's command; none was given")
        run_id = str(uuid.uuid4())
        run = Run(spec, self.work / spec.session_id)
        self.runs[run_id] = run
        run.task = asyncio.create_task(self._run(run, [str(c) for c in command]))
        return run_id

    async def _run(self, run: Run, command: list[str]) -> None:
        try:
            delay = (run.spec.start - datetime.now(UTC)).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            run.phase = Phase.PREPARING
            await asyncio.to_thread(self._stage, run)
            environment = dict(run.spec.executable.get("environment") or {})  # type: ignore[call-overload]
            run.process = await asyncio.create_subprocess_exec(
                *command, cwd=run.workdir, env={**os.environ, **environment}
            )
            run.phase = Phase.RUNNING
            code = await run.process.wait()
            if code != 0:
                run.phase, run.detail = Phase.FAILED, f"exit code {code}"
                return
            run.phase = Phase.RELEASING
            await asyncio.sleep(0.3)
            await asyncio.to_thread(self._release, run, environment.get("OUTPUT_TO"))
            run.phase, run.detail = Phase.COMPLETED, "exit code 0"
        except asyncio.CancelledError:
            if run.process is not None and run.process.returncode is None:
                run.process.kill()
                await run.process.wait()  # reap it: a transport left to garbage collection outlives its loop
            run.phase, run.detail = Phase.CANCELLED, "cancelled"
        except OSError as exc:
            run.phase, run.detail = Phase.FAILED, f"{type(exc).__name__}: {exc}"

    def _stage(self, run: Run) -> None:
        (run.workdir / "output").mkdir(parents=True, exist_ok=True)
        data = {str(d.get("meta", {}).get("name")): d for d in run.spec.data}  # type: ignore[union-attr]
        for volume in run.spec.volumes:
            resource = data.get(str(volume.get("resource")))
            if resource is None:
                continue
            target = run.workdir / str(volume["path"]).lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            location = str(resource.get("location"))
            with urllib.request.urlopen(location) as source:  # file:// or https://
                (target / Path(location).name).write_bytes(source.read())
            if volume.get("mode") == "READONLY":
                for path in target.iterdir():
                    path.chmod(0o444)

    def _release(self, run: Run, output_to: str | None) -> None:
        if output_to:
            shutil.copytree(run.workdir / "output", output_to, dirs_exist_ok=True)

    async def poll(self, run_id: str) -> RunStatus:
        run = self.runs.get(run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id} on {self.name}")
        return RunStatus(run.phase, run.phase.value, run.detail, "ERROR" if run.phase == Phase.FAILED else "INFO")

    async def cancel(self, run_id: str) -> None:
        run = self.runs.get(run_id)
        if run is not None and run.task is not None and not run.task.done():
            run.task.cancel()


def create() -> FastAPI:
    work = Path(os.environ["CIRASA_TEST_WORK"])
    platforms = [
        StaticAdapter(declared("small", 4, 8)),
        StaticAdapter(declared("big", 16, 32)),
        ProcessPlatform(declared("runner", 2, 4), work),
    ]
    return create_app(BrokerSettings(platforms=[]), adapters=platforms)
