"""SlurmAdapter: parsers on captured real Slurm 22.05.8 output, and snapshots from the real local Slurm."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from planner.adapters.base import PlatformAdapter
from planner.adapters.slurm import SlurmAdapter, build_slurm_snapshot, build_start_band, build_test_only_argv
from planner.adapters.slurm_output import (
    PartitionLimits,
    SlurmJob,
    SlurmNode,
    parse_partitions,
    parse_sbatch_test_only,
    parse_sinfo_json,
    parse_slurm_duration,
    parse_squeue_json,
)
from planner.engine.model import PlatformKind, PlatformSnapshot, ResourceRequest, StartBand
from planner.errors import PlatformUnavailableError
from tests.services.slurm import SlurmInfo, fill_partition

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"
# The captures were taken at these instants (the machine's zone is UTC).
IDLE_AT = datetime(2026, 11, 25, 15, 10, 56, tzinfo=UTC)
BUSY_AT = datetime(2026, 11, 25, 15, 10, 58, tzinfo=UTC)
IDLE_NODE = SlurmNode(
    name="vm",
    state="idle",
    flags=(),
    partitions=("debug", "short"),
    cpus=4,
    alloc_cpus=0,
    real_memory_mb=23623,
    alloc_memory_mb=0,
    reason="",
)


def read(name: str) -> str:
    return (DATA / name).read_text()


def snapshot_of(
    sinfo: str, squeue: str, test_only: datetime | str, partition: str = "debug", **request: Any
) -> PlatformSnapshot:
    return build_slurm_snapshot(
        name="hpc",
        partition=partition,
        work_pool="slurm-pool",
        request=ResourceRequest(**request),
        nodes=parse_sinfo_json(read(sinfo)),
        jobs=parse_squeue_json(read(squeue)),
        partitions=parse_partitions(read("scontrol_show_partition.txt")),
        test_only=test_only,
        now=BUSY_AT,
    )


# --- parsers -----------------------------------------------------------------------------------------


def test_parse_sinfo_json_idle_node() -> None:
    assert parse_sinfo_json(read("sinfo_idle.json")) == (IDLE_NODE,)
    assert IDLE_NODE.usable


def test_parse_sinfo_json_busy_node_counts_allocations() -> None:
    (node,) = parse_sinfo_json(read("sinfo_busy.json"))
    assert (node.state, node.cpus, node.alloc_cpus, node.alloc_memory_mb) == ("allocated", 4, 4, 2048)
    assert node.usable


def test_parse_sinfo_json_drained_node_is_not_usable() -> None:
    (node,) = parse_sinfo_json(read("sinfo_drained.json"))
    assert (node.state, node.flags, node.reason) == ("idle", ("DRAIN",), "cirasa capture")
    assert not node.usable


def test_parse_sinfo_json_controller_down_raises() -> None:
    # sinfo exits 0 after 9 s with an "errors" list and no nodes when slurmctld cannot be reached.
    with pytest.raises(ValueError, match=r"^sinfo --json reported errors: Unspecified error$"):
        parse_sinfo_json(read("sinfo_controller_down.json"))


def test_parse_sinfo_json_rejects_non_json() -> None:
    with pytest.raises(ValueError, match="sinfo --json did not print JSON"):
        parse_sinfo_json("sinfo: error: something")


def test_parse_squeue_json_running_and_pending() -> None:
    jobs = parse_squeue_json(read("squeue_running_pending.json"))
    assert jobs == (
        SlurmJob(6, "RUNNING", "None", ("debug",), 1, timedelta(minutes=2)),
        SlurmJob(7, "RUNNING", "None", ("debug",), 1, timedelta(minutes=3)),
        SlurmJob(8, "RUNNING", "None", ("debug",), 1, timedelta(minutes=3)),
        SlurmJob(9, "RUNNING", "None", ("debug",), 1, timedelta(minutes=3)),
        SlurmJob(10, "PENDING", "Resources", ("debug",), 2, timedelta(minutes=3)),
        SlurmJob(11, "PENDING", "Resources", ("short",), 1, timedelta(minutes=4)),
    )


def test_parse_squeue_json_empty_and_controller_down() -> None:
    assert parse_squeue_json(read("squeue_empty.json")) == ()
    with pytest.raises(
        ValueError,
        match=r"^squeue --json reported errors: slurm_load_jobs Failed while looking for jobs Unspecified error$",
    ):
        parse_squeue_json(read("squeue_controller_down.json"))


def test_parse_partitions_reads_limits() -> None:
    assert parse_partitions(read("scontrol_show_partition.txt")) == {
        "debug": PartitionLimits("debug", "UP", None, None, None),
        "short": PartitionLimits("short", "UP", timedelta(minutes=10), None, None),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("UNLIMITED", None),
        ("INFINITE", None),
        ("00:10:00", timedelta(minutes=10)),
        ("01:00:00", timedelta(hours=1)),
        ("2-03:04:05", timedelta(days=2, hours=3, minutes=4, seconds=5)),
    ],
)
def test_parse_slurm_duration(text: str, expected: timedelta | None) -> None:
    assert parse_slurm_duration(text) == expected


def test_parse_slurm_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError, match=r"not a Slurm time: '10 minutes'"):
        parse_slurm_duration("10 minutes")


def test_parse_sbatch_test_only_reads_local_time_as_utc() -> None:
    stderr = read("sbatch_test_only_busy.txt")
    early = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    assert parse_sbatch_test_only(stderr, early, local_tz=UTC) == datetime(2026, 11, 25, 15, 15, 56, tzinfo=UTC)
    # The same wall-clock text printed by a Slurm in Sydney (UTC+11 in November) is 04:15:56 UTC.
    sydney = parse_sbatch_test_only(stderr, early, local_tz=ZoneInfo("Australia/Sydney"))
    assert sydney == datetime(2026, 11, 25, 4, 15, 56, tzinfo=UTC)


def test_parse_sbatch_test_only_default_zone_is_the_machines() -> None:
    naive = datetime(2026, 11, 25, 15, 15, 56)
    expected = naive.astimezone().astimezone(UTC)
    early = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_sbatch_test_only(read("sbatch_test_only_busy.txt"), early) == expected


def test_parse_sbatch_test_only_never_before_now() -> None:
    # The idle estimate has whole seconds; half a second later it must read as "now", not the past.
    now = IDLE_AT + timedelta(milliseconds=500)
    assert parse_sbatch_test_only(read("sbatch_test_only_idle.txt"), now, local_tz=UTC) == now


@pytest.mark.parametrize("name", ["sbatch_test_only_impossible.txt", "sbatch_test_only_bad_partition.txt"])
def test_parse_sbatch_test_only_without_estimate_raises(name: str) -> None:
    with pytest.raises(ValueError, match="no start estimate in sbatch --test-only output"):
        parse_sbatch_test_only(read(name), IDLE_AT, local_tz=UTC)


def test_build_test_only_argv() -> None:
    request = ResourceRequest(
        cores_min=2, cores_max=4, memory_gib_min=3, memory_gib_max=8, duration=timedelta(minutes=90)
    )
    assert build_test_only_argv(request, "short") == [
        "sbatch", "--test-only", "-p", "short", "-n", "1", "-c", "2", "--mem=3G", "-t", "90", "--wrap", "true",
    ]  # fmt: skip


def test_build_test_only_argv_rounds_minutes_up_and_omits_zero_memory() -> None:
    request = ResourceRequest(memory_gib_min=0, memory_gib_max=1, duration=timedelta(seconds=61))
    assert build_test_only_argv(request, "debug", sbatch="/opt/slurm/bin/sbatch") == [
        "/opt/slurm/bin/sbatch", "--test-only", "-p", "debug", "-n", "1", "-c", "1", "-t", "2", "--wrap", "true",
    ]  # fmt: skip


def test_build_start_band_now_and_later() -> None:
    assert build_start_band(IDLE_AT, IDLE_AT) == StartBand(
        IDLE_AT, IDLE_AT + timedelta(seconds=5), "sbatch --test-only"
    )
    # slurmctld's clock is read after ours: an estimate a second or two after `now` is still "now"
    for lag in (1, 2, 5):
        assert build_start_band(IDLE_AT + timedelta(seconds=lag), IDLE_AT) == StartBand(
            IDLE_AT, IDLE_AT + timedelta(seconds=5), "sbatch --test-only"
        )
    soon = IDLE_AT + timedelta(seconds=6)
    assert build_start_band(soon, IDLE_AT) == StartBand(soon, soon + timedelta(seconds=30), "sbatch --test-only")
    later = IDLE_AT + timedelta(minutes=5)
    assert build_start_band(later, IDLE_AT) == StartBand(later, later + timedelta(seconds=30), "sbatch --test-only")


# --- snapshot from captured state ----------------------------------------------------------------------


def test_snapshot_of_busy_partition() -> None:
    estimate = datetime(2026, 11, 25, 15, 15, 56, tzinfo=UTC)
    snapshot = snapshot_of("sinfo_busy.json", "squeue_running_pending.json", estimate)
    assert snapshot.kind is PlatformKind.SLURM
    assert snapshot.available
    assert (snapshot.total_cores, snapshot.free_cores) == (4, 0)
    assert (snapshot.total_memory_gib, snapshot.free_memory_gib) == (23.069, 21.069)
    assert (snapshot.max_cores_per_job, snapshot.max_memory_gib_per_job, snapshot.max_walltime) == (4, 23.069, None)
    assert snapshot.start == StartBand(estimate, estimate + timedelta(seconds=30), "sbatch --test-only")
    assert snapshot.facts == {
        "partition": "debug",
        "nodes": "vm",
        "running_jobs": 4,
        "pending_jobs": 1,
        "exceeds_max_walltime": False,
        "slurm_estimate": "2026-11-25T15:15:56+00:00",
    }


def test_snapshot_of_short_partition_has_its_walltime_limit() -> None:
    snapshot = snapshot_of(
        "sinfo_idle.json", "squeue_running_pending.json", BUSY_AT, "short", duration=timedelta(minutes=30)
    )
    assert snapshot.max_walltime == timedelta(minutes=10)
    assert snapshot.facts["exceeds_max_walltime"] is True  # sbatch --test-only still says "now" for this
    assert (snapshot.facts["running_jobs"], snapshot.facts["pending_jobs"]) == (0, 1)


def test_snapshot_with_rejected_request_is_unavailable_with_slurms_message() -> None:
    rejection = " ".join(read("sbatch_test_only_impossible.txt").split())
    snapshot = snapshot_of("sinfo_idle.json", "squeue_empty.json", rejection, cores_min=64, cores_max=64)
    assert not snapshot.available
    assert snapshot.start is None
    assert snapshot.unavailable_reasons == (
        "Slurm rejects the request in partition 'debug': allocation failure: Requested node configuration is not available",
    )


def test_snapshot_of_unknown_partition() -> None:
    rejection = " ".join(read("sbatch_test_only_bad_partition.txt").split())
    snapshot = snapshot_of("sinfo_idle.json", "squeue_empty.json", rejection, "nosuch")
    assert (snapshot.available, snapshot.total_cores, snapshot.max_cores_per_job) == (False, 0, None)
    assert snapshot.unavailable_reasons == (
        "Slurm partition 'nosuch' does not exist (partitions: debug, short)",
        "Slurm rejects the request in partition 'nosuch': sbatch: error: invalid partition specified: nosuch "
        "allocation failure: Invalid partition name specified",
    )


def test_snapshot_of_drained_node() -> None:
    snapshot = snapshot_of("sinfo_drained.json", "squeue_empty.json", IDLE_AT)
    assert (snapshot.available, snapshot.total_cores, snapshot.start) == (False, 0, None)
    assert snapshot.unavailable_reasons == (
        "Slurm partition 'debug' has no usable node (vm idle+DRAIN cirasa capture)",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "name must not be empty"),
        ({"partition": ""}, "partition must not be empty"),
        ({"work_pool": ""}, "work_pool must not be empty"),
        ({"timeout_s": 0}, "timeout_s must be positive, got 0"),
    ],
)
def test_adapter_constructor_validates(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"name": "hpc", "partition": "debug", "work_pool": "slurm-pool", **kwargs}
    with pytest.raises(ValueError, match=f"^{message}$"):
        SlurmAdapter(**arguments)  # type: ignore[arg-type]


def test_adapter_is_a_platform_adapter() -> None:
    assert isinstance(SlurmAdapter("hpc", "debug", "slurm-pool"), PlatformAdapter)


def test_missing_binary_is_platform_unavailable() -> None:
    adapter = SlurmAdapter("hpc", "debug", "slurm-pool", sinfo="/nonexistent/sinfo")
    with pytest.raises(PlatformUnavailableError, match=r"cannot run `/nonexistent/sinfo --json`") as caught:
        asyncio.run(adapter.snapshot(ResourceRequest()))
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_a_command_cancelled_while_starting_is_killed_and_reaped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancellation can land while the child is being created: the child still starts, and must not be left
    running with open pipes (they would be closed at garbage collection, on a closed loop)."""
    real = asyncio.create_subprocess_exec
    started: list[asyncio.subprocess.Process] = []

    async def slow_start(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        await asyncio.sleep(0.2)  # the caller is cancelled meanwhile
        process = await real(*args, **kwargs)
        started.append(process)
        return process

    monkeypatch.setattr(asyncio, "create_subprocess_exec", slow_start)
    adapter = SlurmAdapter("hpc", "debug", "slurm-pool")

    async def scenario() -> None:
        task = asyncio.create_task(adapter._run(["sleep", "30"]))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert len(started) == 1
    assert started[0].returncode is not None  # killed and reaped, not left to the garbage collector
    assert started[0].returncode < 0


# --- the real Slurm ------------------------------------------------------------------------------------


@pytest.mark.slurm
def test_real_idle_partition_starts_now(slurm: SlurmInfo) -> None:
    before = datetime.now(UTC)
    snapshot = asyncio.run(SlurmAdapter("hpc", "short", "slurm-pool").snapshot(ResourceRequest()))
    assert snapshot.available, snapshot.unavailable_reasons
    assert snapshot.total_cores == slurm.cpus
    assert snapshot.max_walltime == timedelta(minutes=10)
    assert snapshot.facts["nodes"] == slurm.hostname
    assert snapshot.start is not None
    assert before <= snapshot.start.earliest <= before + timedelta(seconds=5)
    assert snapshot.start.latest == snapshot.start.earliest + timedelta(seconds=5)


@pytest.mark.slurm
def test_real_filled_partition_moves_start_later(slurm: SlurmInfo) -> None:
    adapter = SlurmAdapter("hpc", "debug", "slurm-pool")
    free = asyncio.run(adapter.snapshot(ResourceRequest())).free_cores
    assert free > 0, "another test holds every CPU of the test Slurm"
    with fill_partition("debug", free, 240, time_limit_minutes=3) as filled:
        now = datetime.now(UTC)
        snapshot = asyncio.run(adapter.snapshot(ResourceRequest()))
        assert snapshot.free_cores == 0
        assert int(snapshot.facts["running_jobs"] or 0) >= len(filled.job_ids)
        assert snapshot.start is not None
        # Slurm plans from the 3-minute time limits of the sleepers, not from their real run time.
        assert now + timedelta(minutes=2) <= snapshot.start.earliest <= now + timedelta(minutes=3, seconds=5)
        assert snapshot.start.latest == snapshot.start.earliest + timedelta(seconds=30)


@pytest.mark.slurm
def test_real_impossible_request_is_unavailable(slurm: SlurmInfo) -> None:
    request = ResourceRequest(cores_min=64, cores_max=64)
    snapshot = asyncio.run(SlurmAdapter("hpc", "debug", "slurm-pool").snapshot(request))
    assert not snapshot.available
    assert snapshot.start is None
    assert snapshot.unavailable_reasons == (
        "Slurm rejects the request in partition 'debug': allocation failure: Requested node configuration is not available",
    )


@pytest.mark.slurm
def test_real_dead_binary_is_platform_unavailable(slurm: SlurmInfo) -> None:
    adapter = SlurmAdapter("hpc", "debug", "slurm-pool", sbatch="/nonexistent/sbatch")
    with pytest.raises(PlatformUnavailableError, match=r"^Slurm platform hpc: cannot run `/nonexistent/sbatch "):
        asyncio.run(adapter.snapshot(ResourceRequest()))


@pytest.mark.slurm
def test_real_unreachable_controller_times_out(slurm: SlurmInfo, tmp_path: Path) -> None:
    # The same cluster config with a port nobody listens on: sinfo retries for ~9 s.
    conf = Path("/etc/slurm/slurm.conf").read_text().replace("SlurmctldPort=6817", "SlurmctldPort=6999")
    (tmp_path / "slurm.conf").write_text(conf)
    env = {**os.environ, "SLURM_CONF": str(tmp_path / "slurm.conf")}
    adapter = SlurmAdapter("hpc", "debug", "slurm-pool", timeout_s=1.5, env=env)
    with pytest.raises(PlatformUnavailableError, match=r"did not finish within 1.5 s") as caught:
        asyncio.run(adapter.snapshot(ResourceRequest()))
    assert isinstance(caught.value.__cause__, TimeoutError)
