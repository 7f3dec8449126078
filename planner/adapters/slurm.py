"""A Slurm partition as a platform, read with ``sinfo --json``, ``squeue --json``,
``scontrol show partition -o`` and ``sbatch --test-only`` (which queues nothing).

Slurm output becomes data in :mod:`planner.adapters.slurm_output`, data becomes a snapshot in the pure
``build_*`` functions here (both tested on captured real output in ``tests/data/slurm``);
:meth:`SlurmAdapter._run` is the only place that starts a process.

Start band: ``sbatch --test-only`` gives the time Slurm would start the job, computed from the *time
limits* of running and higher-priority jobs, not their real run time. Free now (estimate <= now +
START_LATENCY: slurmctld reads its clock after ours, and a loaded machine put a free partition's
estimate a second after ``now``): ``[now, now + START_LATENCY]`` (sbatch to RUNNING took 1.0-2.2 s
on an idle node). Busy: ``[estimate, estimate + BUSY_SLACK]``: we rank by Slurm's own prediction; jobs ending before their
limit make the real start earlier, new higher-priority work makes it later; the slack covers KillWait
(5 s) and a scheduler pass. A request Slurm can never place (too many cores or too much memory for any
node, unknown partition) gives ``available=False`` with Slurm's message in ``unavailable_reasons``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from planner.adapters.slurm_output import (
    PartitionLimits,
    SlurmJob,
    SlurmNode,
    parse_partitions,
    parse_sbatch_test_only,
    parse_sinfo_json,
    parse_squeue_json,
)
from planner.engine.model import PlatformKind, PlatformSnapshot, ResourceRequest, StartBand
from planner.errors import PlatformUnavailableError

logger = logging.getLogger(__name__)
T = TypeVar("T")

START_LATENCY = timedelta(seconds=5)
BUSY_SLACK = timedelta(seconds=30)
START_SOURCE = "sbatch --test-only"
_SHOW_PARTITIONS = ("show", "partition", "-o")


def build_test_only_argv(request: ResourceRequest, partition: str, *, sbatch: str = "sbatch") -> list[str]:
    """``sbatch --test-only`` for the smallest job the request accepts (one task, ``cores_min`` CPUs).

    ``--mem`` is left out for ``memory_gib_min == 0`` (``--mem=0`` means "all memory" in Slurm), so the
    partition's DefMemPerCPU applies. The time limit is the duration rounded up to whole minutes.
    """
    minutes = max(1, math.ceil(request.duration.total_seconds() / 60))
    argv = [sbatch, "--test-only", "-p", partition, "-n", "1", "-c", str(request.cores_min)]
    if request.memory_gib_min > 0:
        argv.append(f"--mem={request.memory_gib_min}G")
    return [*argv, "-t", str(minutes), "--wrap", "true"]


def build_start_band(estimate: datetime, now: datetime) -> StartBand:
    """The start band for Slurm's estimate (see the module docstring)."""
    if estimate <= now + START_LATENCY:
        return StartBand(earliest=now, latest=now + START_LATENCY, source=START_SOURCE)
    return StartBand(earliest=estimate, latest=estimate + BUSY_SLACK, source=START_SOURCE)


def _lowest(value: int | None, limit: int | None) -> int | None:
    return value if value is None or limit is None else min(value, limit)


def build_slurm_snapshot(
    *,
    name: str,
    partition: str,
    work_pool: str,
    request: ResourceRequest,
    nodes: Sequence[SlurmNode],
    jobs: Sequence[SlurmJob],
    partitions: Mapping[str, PartitionLimits],
    test_only: datetime | str,
    now: datetime,
) -> PlatformSnapshot:
    """Combine the parsed Slurm state into one snapshot of ``partition`` (pure).

    ``test_only`` is the parsed ``sbatch --test-only`` estimate, or Slurm's text when it refused.
    """
    limits = partitions.get(partition)
    members = [node for node in nodes if partition in node.partitions]
    usable = [node for node in members if node.usable]
    reasons: list[str] = []
    if limits is None:
        reasons.append(f"Slurm partition '{partition}' does not exist (partitions: {', '.join(partitions)})")
    elif limits.state != "UP":
        reasons.append(f"Slurm partition '{partition}' is {limits.state}")
    if limits is not None and not usable:
        states = (
            ", ".join(f"{n.name} {'+'.join((n.state, *n.flags))} {n.reason}".strip() for n in members) or "no nodes"
        )
        reasons.append(f"Slurm partition '{partition}' has no usable node ({states})")
    if isinstance(test_only, str):
        reasons.append(f"Slurm rejects the request in partition '{partition}': {test_only}")
    in_partition = [job for job in jobs if partition in job.partitions]
    max_cores = _lowest(max((n.cpus for n in usable), default=None), limits.max_cpus_per_node if limits else None)
    max_memory_mb = _lowest(
        max((n.real_memory_mb for n in usable), default=None), limits.max_memory_mb_per_node if limits else None
    )
    max_walltime = limits.max_time if limits is not None else None
    facts: dict[str, str | int | float | bool | None] = {
        "partition": partition,
        "nodes": ",".join(n.name for n in members),
        "running_jobs": sum(1 for job in in_partition if job.state == "RUNNING"),
        "pending_jobs": sum(1 for job in in_partition if job.state == "PENDING"),
        "exceeds_max_walltime": max_walltime is not None and request.duration > max_walltime,
    }
    start = None
    if isinstance(test_only, datetime) and not reasons:
        start = build_start_band(test_only, now)
        facts["slurm_estimate"] = test_only.isoformat(timespec="seconds")
    return PlatformSnapshot(
        name=name,
        kind=PlatformKind.SLURM,
        work_pool=work_pool,
        available=not reasons,
        total_cores=sum(n.cpus for n in usable),
        free_cores=sum(max(n.cpus - n.alloc_cpus, 0) for n in usable),
        total_memory_gib=round(sum(n.real_memory_mb for n in usable) / 1024, 3),
        free_memory_gib=round(sum(max(n.real_memory_mb - n.alloc_memory_mb, 0) for n in usable) / 1024, 3),
        start=start,
        max_cores_per_job=max_cores,
        max_memory_gib_per_job=None if max_memory_mb is None else round(max_memory_mb / 1024, 3),
        max_walltime=max_walltime,
        unavailable_reasons=tuple(reasons),
        facts=facts,
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SlurmAdapter:
    """One Slurm partition as a :class:`~planner.adapters.base.PlatformAdapter` (read-only)."""

    def __init__(
        self,
        name: str,
        partition: str,
        work_pool: str,
        *,
        timeout_s: float = 15.0,
        sbatch: str = "sbatch",
        sinfo: str = "sinfo",
        squeue: str = "squeue",
        scontrol: str = "scontrol",
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        for label, value in (("name", name), ("partition", partition), ("work_pool", work_pool)):
            if not value:
                raise ValueError(f"{label} must not be empty")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.name = name
        self.partition = partition
        self.work_pool = work_pool
        self.timeout_s = timeout_s
        self._sbatch, self._sinfo, self._squeue, self._scontrol = sbatch, sinfo, squeue, scontrol
        self._env = dict(env) if env is not None else None
        self._clock = clock

    def __repr__(self) -> str:
        return f"SlurmAdapter(name={self.name!r}, partition={self.partition!r}, work_pool={self.work_pool!r})"

    async def _run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        """Run one Slurm command; the only subprocess call of this adapter."""
        command = shlex.join(argv)
        logger.debug("running %s", command)
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
            )
        )
        try:
            process = await asyncio.shield(spawn)
        except OSError as exc:  # FileNotFoundError, PermissionError
            message = f"Slurm platform {self.name}: cannot run `{command}`: {exc.strerror or exc}"
            raise PlatformUnavailableError(message, command=command) from exc
        except asyncio.CancelledError:
            # Cancelled while the child was being started: it starts anyway. Kill and reap it (its pipes would
            # otherwise be closed at garbage collection, on a closed loop) before giving up.
            with contextlib.suppress(Exception):
                orphan = await spawn
                orphan.kill()
                await orphan.communicate()
            raise
        try:
            async with asyncio.timeout(self.timeout_s):
                stdout, stderr = await process.communicate()
                rc = await process.wait()
        except TimeoutError as exc:
            message = f"Slurm platform {self.name}: `{command}` did not finish within {self.timeout_s:g} s"
            raise PlatformUnavailableError(message, command=command) from exc
        finally:
            if process.returncode is None:
                process.kill()
            # Reap it and drain its pipes before the loop may close, also when this task was cancelled after
            # the process exited (a sibling command failed): open pipes would be closed at garbage collection,
            # on a closed loop.
            with contextlib.suppress(Exception):
                await process.communicate()
        logger.debug("%s exited %s", command, rc)
        return rc, stdout.decode(errors="replace"), stderr.decode(errors="replace")

    async def _read(self, argv: Sequence[str], parse: Callable[[str], T]) -> T:
        rc, stdout, stderr = await self._run(argv)
        if rc != 0:
            output = stderr.strip() or stdout.strip()
            raise PlatformUnavailableError(f"Slurm platform {self.name}: `{shlex.join(argv)}` exited {rc}: {output}")
        try:
            return parse(stdout)
        except ValueError as exc:
            raise PlatformUnavailableError(f"Slurm platform {self.name}: {exc}") from exc

    async def _test_only(self, request: ResourceRequest, now: datetime) -> datetime | str:
        """Slurm's start estimate for ``request``, or its refusal text (exit status != 0)."""
        rc, _, stderr = await self._run(build_test_only_argv(request, self.partition, sbatch=self._sbatch))
        if rc != 0:
            return " ".join(stderr.split()) or f"exit status {rc}"
        try:
            return parse_sbatch_test_only(stderr, now)
        except ValueError as exc:
            raise PlatformUnavailableError(f"Slurm platform {self.name}: {exc}") from exc

    async def snapshot(self, request: ResourceRequest) -> PlatformSnapshot:
        """Read the partition and ask Slurm when ``request`` would start.

        Raises
        ------
        PlatformUnavailableError
            A Slurm command is missing, timed out, failed, or slurmctld cannot be reached.
        """
        now = self._clock()
        try:
            async with asyncio.TaskGroup() as group:  # a failure cancels (and kills) the other commands
                nodes = group.create_task(self._read([self._sinfo, "--json"], parse_sinfo_json))
                jobs = group.create_task(self._read([self._squeue, "--json"], parse_squeue_json))
                partitions = group.create_task(self._read([self._scontrol, *_SHOW_PARTITIONS], parse_partitions))
                test_only = group.create_task(self._test_only(request, now))
        except* PlatformUnavailableError as errors:
            raise errors.exceptions[0] from errors.exceptions[0].__cause__  # the first failure, unwrapped
        return build_slurm_snapshot(
            name=self.name,
            partition=self.partition,
            work_pool=self.work_pool,
            request=request,
            nodes=nodes.result(),
            jobs=jobs.result(),
            partitions=partitions.result(),
            test_only=test_only.result(),
            now=now,
        )
