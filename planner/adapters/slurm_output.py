"""Slurm command output as data: ``sinfo --json``, ``squeue --json``, ``scontrol show partition -o`` and
``sbatch --test-only`` parsed into frozen records (pure; tested on captured real output in
``tests/data/slurm``). The adapter that runs the commands is :mod:`planner.adapters.slurm`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

__all__ = [
    "BLOCKING_NODE_FLAGS",
    "USABLE_NODE_STATES",
    "PartitionLimits",
    "SlurmJob",
    "SlurmNode",
    "parse_partitions",
    "parse_sbatch_test_only",
    "parse_sinfo_json",
    "parse_slurm_duration",
    "parse_squeue_json",
]

USABLE_NODE_STATES = frozenset({"idle", "mixed", "allocated", "completing"})
BLOCKING_NODE_FLAGS = frozenset({"DRAIN", "FAIL", "NOT_RESPONDING", "MAINTENANCE", "POWERED_DOWN", "POWERING_DOWN"})
_TEST_ONLY = re.compile(
    r"Job (?P<job>\d+) to start at (?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) using (?P<cpus>\d+) processors"
    r" on nodes (?P<nodes>\S+) in partition (?P<partition>\S+)"
)
_DURATION = re.compile(r"^(?:(?P<days>\d+)-)?(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d)$")
_UNLIMITED = frozenset({"UNLIMITED", "INFINITE", "NONE", "N/A"})


@dataclass(frozen=True)
class SlurmNode:
    """One node from ``sinfo --json``. Memory in MB as Slurm reports it."""

    name: str
    state: str
    flags: tuple[str, ...]
    partitions: tuple[str, ...]
    cpus: int
    alloc_cpus: int
    real_memory_mb: int
    alloc_memory_mb: int
    reason: str

    @property
    def usable(self) -> bool:
        return self.state in USABLE_NODE_STATES and not BLOCKING_NODE_FLAGS.intersection(self.flags)


@dataclass(frozen=True)
class SlurmJob:
    """One job from ``squeue --json``. ``partitions`` has several names for multi-partition jobs."""

    job_id: int
    state: str
    reason: str
    partitions: tuple[str, ...]
    cpus: int
    time_limit: timedelta | None


@dataclass(frozen=True)
class PartitionLimits:
    """One partition from ``scontrol show partition -o``. ``None`` means unlimited."""

    name: str
    state: str
    max_time: timedelta | None
    max_cpus_per_node: int | None
    max_memory_mb_per_node: int | None


def _load_openapi(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} did not print JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{what} printed a JSON {type(data).__name__}, expected an object")
    if data.get("errors"):
        keys = ("source", "description", "error")
        texts = "; ".join(" ".join(str(e[k]) for k in keys if e.get(k)) for e in data["errors"])
        raise ValueError(f"{what} reported errors: {texts}")
    return data


def parse_sinfo_json(text: str) -> tuple[SlurmNode, ...]:
    """Nodes from ``sinfo --json`` (OpenAPI v0.0.38). Raises ValueError if Slurm reported errors
    (``sinfo`` exits 0 with ``errors`` and no nodes when slurmctld cannot be reached)."""
    data = _load_openapi(text, "sinfo --json")
    return tuple(
        SlurmNode(
            name=str(node["name"]),
            state=str(node["state"]).lower(),
            flags=tuple(str(flag).upper() for flag in node.get("state_flags") or ()),
            partitions=tuple(str(p) for p in node.get("partitions") or ()),
            cpus=int(node["cpus"]),
            alloc_cpus=int(node.get("alloc_cpus") or 0),
            real_memory_mb=int(node["real_memory"]),
            alloc_memory_mb=int(node.get("alloc_memory") or 0),
            reason=str(node.get("reason") or ""),
        )
        for node in data.get("nodes") or ()
    )


def parse_squeue_json(text: str) -> tuple[SlurmJob, ...]:
    """Jobs from ``squeue --json``. ``time_limit`` is in minutes there; a start time of 0 is ``None``."""
    data = _load_openapi(text, "squeue --json")
    jobs = []
    for job in data.get("jobs") or ():
        limit = job.get("time_limit")
        jobs.append(
            SlurmJob(
                job_id=int(job["job_id"]),
                state=str(job["job_state"]).upper(),
                reason=str(job.get("state_reason") or "None"),
                partitions=tuple(str(job.get("partition") or "").split(",")),
                cpus=int(job.get("cpus") or 0),
                time_limit=timedelta(minutes=int(limit)) if isinstance(limit, int) and limit > 0 else None,
            )
        )
    return tuple(jobs)


def parse_slurm_duration(text: str) -> timedelta | None:
    """A time as scontrol prints it (``HH:MM:SS``, ``D-HH:MM:SS``); ``UNLIMITED`` is ``None``."""
    value = text.strip()
    if value.upper() in _UNLIMITED:
        return None
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"not a Slurm time: {text!r}")
    days, hours, minutes, seconds = (int(match[k] or 0) for k in ("days", "h", "m", "s"))
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _limit(value: str | None) -> int | None:
    return None if value is None or value.upper() in _UNLIMITED else int(value)


def parse_partitions(text: str) -> dict[str, PartitionLimits]:
    """Partitions from ``scontrol show partition -o`` (one ``Key=Value`` line per partition)."""
    result: dict[str, PartitionLimits] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        name = fields.get("PartitionName")
        if name is None:
            raise ValueError(f"no PartitionName in scontrol output line: {line!r}")
        result[name] = PartitionLimits(
            name=name,
            state=fields.get("State", "UNKNOWN"),
            max_time=parse_slurm_duration(fields.get("MaxTime", "UNLIMITED")),
            max_cpus_per_node=_limit(fields.get("MaxCPUsPerNode")),
            max_memory_mb_per_node=_limit(fields.get("MaxMemPerNode")),
        )
    return result


def parse_sbatch_test_only(stderr: str, now: datetime, *, local_tz: tzinfo | None = None) -> datetime:
    """The start time in ``sbatch: Job 12 to start at 2026-11-25T15:20:01 using 1 processors ...``.

    Slurm prints local time without a zone: it is read in ``local_tz`` (default: this machine's zone)
    and returned in UTC, never earlier than ``now`` (the estimate has whole seconds).
    Raises ValueError when the line is missing.
    """
    match = _TEST_ONLY.search(stderr)
    if match is None:
        raise ValueError(f"no start estimate in sbatch --test-only output: {stderr.strip()!r}")
    naive = datetime.strptime(match["at"], "%Y-%m-%dT%H:%M:%S")
    local = naive.replace(tzinfo=local_tz) if local_tz is not None else naive.astimezone()
    return max(local.astimezone(UTC), now)
