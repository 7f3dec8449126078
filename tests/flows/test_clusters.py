"""ClusterSpec -> Dask clusters: job scripts checked offline, a real LocalCluster, and real Slurm jobs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
from dask_jobqueue.slurm import SLURMCluster
from distributed.core import Status
from pydantic import ValidationError

from flows.clusters import (
    ClusterSpec,
    ClusterStartTimeoutError,
    build_local_cluster_kwargs,
    build_slurm_cluster_kwargs,
    format_memory,
    format_walltime,
    open_cluster,
)
from tests.services.slurm import SlurmInfo, wait_until_gone

SLURM_SPEC = ClusterSpec(
    kind="slurm",
    workers=2,
    cores_per_worker=2,
    memory_gib_per_worker=1.5,
    walltime_minutes=90,
    partition="short",
    log_directory="/var/tmp/cirasa-logs",
    local_directory="/var/tmp/cirasa-scratch",
    python="/opt/cirasa/bin/python",
    env={"PREFECT_API_URL": "http://127.0.0.1:4200/api", "CIRASA_NOTE": "two words"},
    death_timeout_s=30,
)


def square(x: int) -> int:
    return x * x


def worker_environment() -> tuple[str | None, str | None]:
    return os.environ.get("SLURM_JOB_ID"), os.environ.get("CIRASA_NOTE")


def split_job_script(script: str) -> tuple[list[str], list[str], list[str]]:
    """(#SBATCH directives, prologue lines, worker argv) of a dask-jobqueue job script."""
    lines = [line for line in script.splitlines() if line.strip() and not line.startswith("#!")]
    directives = [line.removeprefix("#SBATCH ") for line in lines if line.startswith("#SBATCH ")]
    body = [line for line in lines if not line.startswith("#SBATCH ")]
    return directives, body[:-1], shlex.split(body[-1])


# --- offline -------------------------------------------------------------------------------------------


def test_format_walltime_and_memory() -> None:
    assert [format_walltime(m) for m in (1, 59, 60, 90, 1440)] == ["00:01:00", "00:59:00", "01:00:00", "01:30:00", "24:00:00"]  # fmt: skip
    assert [format_memory(g) for g in (1, 1.5, 0.25, 16)] == ["1GiB", "1536MiB", "256MiB", "16GiB"]


def test_build_slurm_cluster_kwargs() -> None:
    assert build_slurm_cluster_kwargs(SLURM_SPEC) == {
        "queue": "short",
        "cores": 2,
        "processes": 1,
        "memory": "1536MiB",
        "walltime": "01:30:00",
        "job_name": "cirasa-dask",
        "interface": "lo",
        "scheduler_options": {"interface": "lo", "dashboard_address": ":0"},
        "death_timeout": 30,
        "python": "/opt/cirasa/bin/python",
        "job_script_prologue": ["export CIRASA_NOTE='two words'", "export PREFECT_API_URL=http://127.0.0.1:4200/api"],
        "local_directory": "/var/tmp/cirasa-scratch",
        "log_directory": "/var/tmp/cirasa-logs",
    }


def test_slurm_job_script_directives_and_prologue() -> None:
    with SLURMCluster(**build_slurm_cluster_kwargs(SLURM_SPEC)) as cluster:
        directives, prologue, worker = split_job_script(cluster.job_script())
    assert directives == [
        "-J cirasa-dask",
        "-e /var/tmp/cirasa-logs/cirasa-dask-%J.err",
        "-o /var/tmp/cirasa-logs/cirasa-dask-%J.out",
        "-p short",
        "-n 1",
        "--cpus-per-task=2",
        "--mem=2G",  # dask-jobqueue rounds 1536 MiB up to whole GiB for Slurm
        "-t 01:30:00",
    ]
    assert prologue == ["export CIRASA_NOTE='two words'", "export PREFECT_API_URL=http://127.0.0.1:4200/api"]
    assert worker[:3] == ["/opt/cirasa/bin/python", "-m", "distributed.cli.dask_worker"]
    assert re.fullmatch(r"tcp://127\.0\.0\.1:\d+", worker[3])
    options = worker[4:]
    for flag, value in [
        ("--nthreads", "2"),
        ("--memory-limit", "1.50GiB"),
        ("--death-timeout", "30"),
        ("--local-directory", "/var/tmp/cirasa-scratch"),
        ("--interface", "lo"),
    ]:
        assert options[options.index(flag) + 1] == value, flag
    assert "--nanny" in options


def test_slurm_job_script_without_log_directory_discards_output() -> None:
    spec = ClusterSpec(kind="slurm", partition="debug")
    with SLURMCluster(**build_slurm_cluster_kwargs(spec)) as cluster:
        directives, prologue, worker = split_job_script(cluster.job_script())
    assert directives == [
        "-J cirasa-dask",
        "-p debug",
        "-n 1",
        "--cpus-per-task=1",
        "--mem=1G",
        "-t 00:10:00",
        "--output=/dev/null",
        "--error=/dev/null",
    ]
    assert prologue == []
    assert worker[0] == sys.executable


def test_build_local_cluster_kwargs() -> None:
    spec = ClusterSpec(workers=2, cores_per_worker=3, memory_gib_per_worker=0.5, env={"B": "2", "A": "1"})
    assert build_local_cluster_kwargs(spec) == {
        "n_workers": 2,
        "processes": True,
        "threads_per_worker": 3,
        "memory_limit": "512MiB",
        "host": "127.0.0.1",
        "dashboard_address": ":0",
        "death_timeout": 60,
        "env": {"A": "1", "B": "2"},
    }


def test_build_functions_refuse_the_other_kind() -> None:
    with pytest.raises(ValueError, match=r"^build_slurm_cluster_kwargs needs a slurm spec, got kind='local'$"):
        build_slurm_cluster_kwargs(ClusterSpec())
    with pytest.raises(ValueError, match=r"^build_local_cluster_kwargs needs a local spec, got kind='slurm'$"):
        build_local_cluster_kwargs(SLURM_SPEC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "slurm"}, "a slurm cluster needs a partition (the Slurm partition for the worker jobs)"),
        (
            {"kind": "local", "partition": "debug"},
            "partition is only for slurm clusters, got partition='debug' for local",
        ),
        ({"env": {"BAD-NAME": "x"}}, "env names must match [A-Za-z_][A-Za-z0-9_]*, got ['BAD-NAME']"),
        ({"workers": 0}, "Input should be greater than or equal to 1"),
        ({"memory_gib_per_worker": 0}, "Input should be greater than 0"),
        ({"kind": "pbs"}, "Input should be 'local', 'slurm' or 'kubernetes'"),
        ({"cores": 2}, "Extra inputs are not permitted"),
    ],
)
def test_cluster_spec_validation(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ClusterSpec.model_validate(fields)
    (error,) = caught.value.errors()
    assert error["msg"].removeprefix("Value error, ") == message


def test_cluster_spec_is_frozen() -> None:
    with pytest.raises(ValidationError, match="Instance is frozen"):
        SLURM_SPEC.workers = 3  # type: ignore[misc]


# --- real clusters ---------------------------------------------------------------------------------------


def test_local_cluster_maps_a_function() -> None:
    with open_cluster(ClusterSpec(workers=2, env={"CIRASA_NOTE": "local"})) as client:
        assert client.gather(client.map(square, range(10))) == [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
        assert len(client.scheduler_info()["workers"]) == 2
        assert sorted(client.run(worker_environment).values()) == [(None, "local"), (None, "local")]
        cluster = client.cluster
    assert client.status == "closed"
    assert cluster.status == Status.closed


def test_local_cluster_closes_on_keyboard_interrupt() -> None:
    clients = []

    def interrupted() -> None:
        with open_cluster(ClusterSpec()) as client:
            clients.append(client)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    (client,) = clients
    assert client.status == "closed"
    assert client.cluster.status == Status.closed


def cirasa_dask_jobs() -> dict[str, str]:
    out = subprocess.run(
        ["squeue", "-h", "-n", "cirasa-dask", "-o", "%i %T"], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split() for line in out.splitlines())


@pytest.mark.slurm
def test_slurm_cluster_runs_tasks_in_a_slurm_job(slurm: SlurmInfo) -> None:
    spec = ClusterSpec(kind="slurm", workers=1, partition=slurm.default_partition, env={"CIRASA_NOTE": "x y"})
    before = set(cirasa_dask_jobs())
    with open_cluster(spec) as client:
        assert client.gather(client.map(square, range(10))) == [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
        ((worker_job, note),) = client.run(worker_environment).values()
        jobs = {job: state for job, state in cirasa_dask_jobs().items() if job not in before}
        assert jobs == {worker_job: "RUNNING"}
        assert note == "x y"
    wait_until_gone([worker_job], timeout_s=15)


@pytest.mark.slurm
def test_slurm_cluster_without_worker_times_out_with_the_job_state(slurm: SlurmInfo) -> None:
    # 30 minutes is over the `short` partition's MaxTime (10): the job stays PENDING forever.
    spec = ClusterSpec(kind="slurm", partition="short", walltime_minutes=30, start_timeout_s=3)
    with pytest.raises(ClusterStartTimeoutError) as caught, open_cluster(spec):
        pytest.fail("no worker can have joined")
    message = str(caught.value)
    match = re.fullmatch(
        r"no Dask worker joined within 3 s on Slurm partition 'short' \(jobs: (\d+) PENDING \(PartitionTimeLimit\)\)",
        message,
    )
    assert match, message
    assert isinstance(caught.value, TimeoutError)
    wait_until_gone([match[1]], timeout_s=15)
