"""The real single-node Slurm for tests: start it once per session, fill partitions with sleeping jobs.

Use the session fixture ``slurm`` (``from tests.services.slurm import slurm`` in a conftest or test
module) in tests marked ``@pytest.mark.slurm``. It runs ``infra/slurm/start.sh`` (installs and starts
munged, slurmctld and slurmd when needed; < 0.1 s when already up) and stops Slurm at the end only if
this session started it. When Slurm cannot start the tests are skipped with the reason, except with
``CI=true``, where they fail. ``CIRASA_SLURM_KEEP=1`` keeps a Slurm started by the session running.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SLURM_SCRIPTS = REPO_ROOT / "infra" / "slurm"
START_TIMEOUT_S = 600  # a first install waits for the apt lock for up to 300 s
ACTIVE_STATES = "PD,R,CG,CF,S"


class SlurmUnavailableError(RuntimeError):
    """Slurm could not be started or queried here; the message says why."""


@dataclass(frozen=True)
class SlurmInfo:
    """The running test Slurm: its one node, the CPUs it advertises, and its partitions."""

    hostname: str
    cpus: int
    memory_mb: int
    partitions: tuple[str, ...]
    default_partition: str
    status: str


def _run(argv: list[str], timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmUnavailableError(f"`{' '.join(argv)}` failed: {exc}") from exc


def slurm_is_up() -> bool:
    """True when ``infra/slurm/status.sh`` reports a healthy Slurm."""
    return _run([str(SLURM_SCRIPTS / "status.sh")]).returncode == 0


def read_slurm_info(status: str = "") -> SlurmInfo:
    """Query the running Slurm for its node and partitions."""
    nodes = _run(["sinfo", "-h", "-N", "-o", "%N %c %m"])
    parts = _run(["sinfo", "-h", "-o", "%P"])
    if nodes.returncode != 0 or parts.returncode != 0 or not nodes.stdout.strip():
        raise SlurmUnavailableError(f"sinfo failed: {nodes.stderr.strip()} {parts.stderr.strip()}".strip())
    hostname, cpus, memory = nodes.stdout.split("\n", 1)[0].split()
    names = [p.strip() for p in parts.stdout.split()]
    default = next((p.rstrip("*") for p in names if p.endswith("*")), names[0].rstrip("*"))
    return SlurmInfo(
        hostname=hostname,
        cpus=int(cpus),
        memory_mb=int(memory),
        partitions=tuple(p.rstrip("*") for p in names),
        default_partition=default,
        status=status,
    )


def ensure_slurm() -> SlurmInfo:
    """Start the local Slurm if needed (``infra/slurm/start.sh``) and describe it.

    Raises SlurmUnavailableError with start.sh's own message when it cannot start.
    """
    started = _run([str(SLURM_SCRIPTS / "start.sh")], timeout_s=START_TIMEOUT_S)
    if started.returncode != 0:
        output = (started.stderr.strip() + "\n" + started.stdout.strip()).strip()
        raise SlurmUnavailableError(f"infra/slurm/start.sh exited {started.returncode}: {output}")
    return read_slurm_info(started.stdout.strip())


def stop_slurm() -> None:
    """Cancel all jobs and stop the local Slurm (``infra/slurm/stop.sh``)."""
    stopped = _run([str(SLURM_SCRIPTS / "stop.sh")], timeout_s=120)
    if stopped.returncode != 0:
        raise SlurmUnavailableError(f"infra/slurm/stop.sh exited {stopped.returncode}: {stopped.stderr.strip()}")


def job_states(job_ids: list[str]) -> dict[str, str]:
    """Current state (``RUNNING``, ``PENDING``, ...) of each of ``job_ids`` still known to squeue."""
    if not job_ids:
        return {}
    out = _run(["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i %T"]).stdout
    return dict(line.split(None, 1) for line in out.splitlines() if line.strip())


def wait_until_gone(job_ids: list[str], timeout_s: float = 30) -> None:
    """Wait until none of ``job_ids`` is pending, running or completing."""
    deadline = time.monotonic() + timeout_s
    while job_ids:
        out = _run(["squeue", "-h", "-t", ACTIVE_STATES, "-j", ",".join(job_ids), "-o", "%i"]).stdout
        if not out.strip():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"Slurm jobs {out.split()} still active after {timeout_s} s")
        time.sleep(0.1)


@dataclass
class FilledPartition:
    """Sleeping jobs submitted by :func:`fill_partition`; ``cancel()`` (or leaving the ``with``) ends them."""

    partition: str
    job_ids: list[str] = field(default_factory=list)

    def cancel(self) -> None:
        if self.job_ids:
            _run(["scancel", *self.job_ids])
            wait_until_gone(self.job_ids)

    def __enter__(self) -> FilledPartition:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def fill_partition(
    partition: str,
    n: int,
    seconds: int,
    *,
    cores: int = 1,
    memory_mb: int = 256,
    time_limit_minutes: int | None = None,
    wait_running: int | None = None,
    job_name: str = "cirasa-fill",
) -> FilledPartition:
    """Submit ``n`` jobs sleeping ``seconds`` to ``partition`` and wait until ``wait_running`` of them
    (default: all ``n``) run. The time limit defaults to the sleep rounded up to minutes; Slurm's
    start estimates for later jobs are computed from it. Output goes to /dev/null.
    """
    limit = time_limit_minutes if time_limit_minutes is not None else max(1, -(-seconds // 60))
    filled = FilledPartition(partition)
    for _ in range(n):
        argv = ["sbatch", "--parsable", "-p", partition, "-J", job_name, "-n", "1", "-c", str(cores)]
        argv += [f"--mem={memory_mb}M", "-t", str(limit), "-o", "/dev/null", "-e", "/dev/null"]
        submitted = _run([*argv, "--wrap", f"sleep {seconds}"])
        if submitted.returncode != 0:
            filled.cancel()
            raise SlurmUnavailableError(f"sbatch to {partition} failed: {submitted.stderr.strip()}")
        filled.job_ids.append(submitted.stdout.strip().split(";")[0])
    want = n if wait_running is None else wait_running
    deadline = time.monotonic() + 30
    while sum(state == "RUNNING" for state in job_states(filled.job_ids).values()) < want:
        if time.monotonic() > deadline:
            states = job_states(filled.job_ids)
            filled.cancel()
            raise TimeoutError(f"only some of {want} fill jobs started in 30 s: {states}")
        time.sleep(0.1)
    return filled


@pytest.fixture(scope="session")
def slurm() -> Iterator[SlurmInfo]:
    """The local Slurm, started once per test session (see the module docstring)."""
    was_up = slurm_is_up()
    try:
        info = ensure_slurm()
    except SlurmUnavailableError as exc:
        message = f"real Slurm not available: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    logger.info("%s", info.status)
    yield info
    if not was_up and os.environ.get("CIRASA_SLURM_KEEP") != "1":
        stop_slurm()
