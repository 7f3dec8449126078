"""Dask clusters per platform, as data: a :class:`ClusterSpec` becomes ``LocalCluster`` or
``dask_jobqueue.SLURMCluster`` keyword arguments through pure ``build_*`` functions (checked offline with
``SLURMCluster(**kwargs).job_script()``), and :func:`open_cluster` runs one for the length of a ``with``.

Everything listens on loopback (``interface="lo"`` for scheduler and workers, dashboard on a free
port), which is right for the single-node test Slurm and for a LocalCluster.

``python -m flows.clusters`` (:func:`run_engine`) is a flow-run process that submits the run's
Slurm worker jobs before it imports Prefect and the flow, so that Slurm starts them meanwhile;
:func:`open_cluster` in the flow then adopts that cluster.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import runpy
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self

from distributed import Client, LocalCluster
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows.settings import FlowSettings

logger = logging.getLogger(__name__)

JOB_NAME = "cirasa-dask"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ClusterStartTimeoutError(TimeoutError):
    """No Dask worker joined within ``ClusterSpec.start_timeout_s``; the message says what Slurm reports."""


class ClusterSpec(BaseModel):
    """Where and how big the Dask cluster of one flow run is.

    ``kind="slurm"`` submits one Slurm job per worker to ``partition``; ``kind="local"`` starts worker
    processes on this machine. ``python`` is the interpreter the workers run (default: this one);
    ``env`` is exported in each Slurm job's prologue (and in LocalCluster workers' environment).
    Worker job logs go to ``log_directory``; without one they are discarded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["local", "slurm", "kubernetes"] = "local"
    workers: int = Field(default=1, ge=1, le=256, description="Dask workers (one Slurm job each)")
    cores_per_worker: int = Field(default=1, ge=1, description="Cores (threads) per worker")
    memory_gib_per_worker: float = Field(default=1.0, gt=0, description="Memory per worker, GiB")
    walltime_minutes: int = Field(default=10, ge=1, description="Time limit of each worker job")
    partition: str | None = Field(default=None, description="Slurm partition (slurm only)")
    log_directory: str | None = Field(default=None, description="Slurm job stdout/stderr directory")
    local_directory: str | None = Field(default=None, description="Worker scratch directory")
    python: str | None = Field(default=None, description="Worker Python; default: sys.executable")
    env: dict[str, str] = Field(default_factory=dict, description="Exported for every worker")
    death_timeout_s: int = Field(default=60, ge=1, description="A worker without scheduler exits after this")
    start_timeout_s: float = Field(default=120.0, gt=0, description="Wait this long for the first worker")
    image: str | None = Field(default=None, description="Worker container image (kubernetes only)")
    namespace: str | None = Field(default=None, description="Kubernetes namespace (kubernetes only)")

    @field_validator("env")
    @classmethod
    def _check_env_names(cls, env: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in env if not _ENV_NAME.match(name))
        if bad:
            raise ValueError(f"env names must match [A-Za-z_][A-Za-z0-9_]*, got {bad}")
        return env

    @model_validator(mode="after")
    def _check_kind(self) -> Self:
        if self.kind == "slurm" and not self.partition:
            raise ValueError("a slurm cluster needs a partition (the Slurm partition for the worker jobs)")
        if self.kind != "slurm" and self.partition is not None:
            raise ValueError(f"partition is only for slurm clusters, got partition={self.partition!r} for {self.kind}")
        if self.kind == "kubernetes" and not (self.image and self.namespace):
            raise ValueError("a kubernetes cluster needs an image and a namespace")
        return self


def format_walltime(minutes: int) -> str:
    """``HH:MM:SS`` as Slurm and dask-jobqueue take it: 90 -> ``01:30:00``."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def format_memory(gib: float) -> str:
    """A dask memory string in binary units: 1.5 -> ``1536MiB`` (exact, no float noise)."""
    mib = round(gib * 1024)
    return f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"


def build_slurm_cluster_kwargs(spec: ClusterSpec) -> dict[str, Any]:
    """Keyword arguments of ``dask_jobqueue.SLURMCluster`` for ``spec``: one single-process worker
    per job with ``cores_per_worker`` threads, on loopback, env exported in the job prologue."""
    if spec.kind != "slurm":
        raise ValueError(f"build_slurm_cluster_kwargs needs a slurm spec, got kind={spec.kind!r}")
    kwargs: dict[str, Any] = {
        "queue": spec.partition,
        "cores": spec.cores_per_worker,
        "processes": 1,
        "memory": format_memory(spec.memory_gib_per_worker),
        "walltime": format_walltime(spec.walltime_minutes),
        "job_name": JOB_NAME,
        "interface": "lo",
        "scheduler_options": {"interface": "lo", "dashboard_address": ":0"},
        "death_timeout": spec.death_timeout_s,
        "python": spec.python or sys.executable,
        "job_script_prologue": [f"export {name}={shlex.quote(value)}" for name, value in sorted(spec.env.items())],
        "local_directory": spec.local_directory,
    }
    if spec.log_directory is not None:
        kwargs["log_directory"] = spec.log_directory
    else:
        kwargs["job_extra_directives"] = ["--output=/dev/null", "--error=/dev/null"]
    return kwargs


def build_local_cluster_kwargs(spec: ClusterSpec) -> dict[str, Any]:
    """Keyword arguments of ``distributed.LocalCluster`` for ``spec`` (worker processes on loopback)."""
    if spec.kind != "local":
        raise ValueError(f"build_local_cluster_kwargs needs a local spec, got kind={spec.kind!r}")
    kwargs: dict[str, Any] = {
        "n_workers": spec.workers,
        "processes": True,
        "threads_per_worker": spec.cores_per_worker,
        "memory_limit": format_memory(spec.memory_gib_per_worker),
        "host": "127.0.0.1",
        "dashboard_address": ":0",
        "death_timeout": spec.death_timeout_s,
    }
    if spec.local_directory is not None:
        kwargs["local_directory"] = spec.local_directory
    if spec.env:
        kwargs["env"] = dict(sorted(spec.env.items()))
    return kwargs


def _slurm_job_states(job_ids: list[str]) -> str:
    """``"12 PENDING (PartitionTimeLimit)"`` per job, for error messages only."""
    if not job_ids:
        return "no job was submitted"
    try:
        done = subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i %T (%r)"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"squeue failed: {exc}"
    return "; ".join(done.stdout.split("\n")).strip("; ") or f"squeue knows none of {job_ids}"


def _wait_for_first_worker(client: Client, cluster: Any, spec: ClusterSpec) -> None:
    try:
        client.wait_for_workers(1, timeout=spec.start_timeout_s)
    except TimeoutError as exc:
        where = f"{spec.kind} cluster"
        if spec.kind == "slurm":
            job_ids = [str(job.job_id) for job in cluster.workers.values() if getattr(job, "job_id", None)]
            where = f"Slurm partition {spec.partition!r} (jobs: {_slurm_job_states(job_ids)})"
        raise ClusterStartTimeoutError(f"no Dask worker joined within {spec.start_timeout_s:g} s on {where}") from exc


def start_cluster(spec: ClusterSpec) -> Any:
    """Construct the cluster of ``spec``; a Slurm one submits its worker jobs now (without waiting
    for them) and then keeps ``spec.workers`` of them (a lost worker job is resubmitted)."""
    cluster: Any
    if spec.kind == "slurm":
        from dask_jobqueue.slurm import SLURMCluster  # imported only where Slurm is used

        cluster = SLURMCluster(**build_slurm_cluster_kwargs(spec))
    elif spec.kind == "kubernetes":
        from flows.kubernetes import open_kube_cluster  # needs a kubeconfig; imported only when used

        cluster = open_kube_cluster(spec)
    else:
        cluster = LocalCluster(**build_local_cluster_kwargs(spec))  # type: ignore[no-untyped-call]
    if spec.kind == "slurm":
        try:
            # scale now (adapt would wait for its first tick), then adapt so that a lost worker job
            # is resubmitted and its work recomputed
            cluster.scale(spec.workers)
            cluster.adapt(minimum=spec.workers, maximum=spec.workers, interval="1s")
        except BaseException:
            cluster.close()
            raise
    return cluster


# At most one cluster started ahead of the flow by `run_engine`, with its spec, until a flow adopts it.
_prestarted: list[tuple[ClusterSpec, Any]] = []


def _adopt_prestarted(spec: ClusterSpec) -> Any | None:
    """The cluster started ahead of the flow if it is the one ``spec`` asks for (else it is closed)."""
    if not _prestarted:
        return None
    started_spec, cluster = _prestarted.pop()
    if started_spec == spec:
        logger.info("Dask %s cluster adopted (started before the flow)", spec.kind)
        return cluster
    cluster.close()
    return None


def release_prestarted() -> None:
    """Close the cluster started ahead of the flow if no flow adopted it (nothing to do, or a failure)."""
    while _prestarted:
        _, cluster = _prestarted.pop()
        cluster.close()


@contextmanager
def open_cluster(spec: ClusterSpec) -> Iterator[Client]:
    """Start the cluster of ``spec`` (or adopt the same one started ahead of the flow, see
    :func:`run_engine`), wait for its first worker, yield a client; close all on exit.

    Closing the cluster cancels its Slurm jobs; this happens on errors and KeyboardInterrupt too.

    Raises
    ------
    ClusterStartTimeoutError
        No worker joined within ``spec.start_timeout_s`` (the message has the Slurm job states).
    """
    cluster = _adopt_prestarted(spec) or start_cluster(spec)
    try:
        with Client(cluster) as client:  # type: ignore[no-untyped-call]
            _wait_for_first_worker(client, cluster, spec)
            logger.info("Dask %s cluster up: %s, dashboard %s", spec.kind, cluster, cluster.dashboard_link)
            yield client
    finally:
        cluster.close()
        logger.info("Dask %s cluster closed", spec.kind)


class ClusterRequest(BaseModel):
    """Size of the Dask cluster for this run (normally filled from the accepted offer)."""

    workers: int = Field(default=2, ge=1, le=64, description="Dask workers (one Slurm job each on Slurm)")
    cores_per_worker: int = Field(default=1, ge=1, description="Cores per worker")
    memory_gib_per_worker: float = Field(default=1.0, gt=0, description="Memory per worker, GiB")
    walltime_minutes: int = Field(default=10, ge=1, description="Walltime of each worker job")

    def spec(self, settings: FlowSettings, *, default_log_directory: Path) -> ClusterSpec:
        """The cluster for this request on the pool the run is in (``settings`` come from the pool)."""
        return ClusterSpec(
            kind=settings.cluster,
            workers=self.workers,
            cores_per_worker=self.cores_per_worker,
            memory_gib_per_worker=self.memory_gib_per_worker,
            walltime_minutes=self.walltime_minutes,
            partition=settings.slurm_partition if settings.cluster == "slurm" else None,
            log_directory=settings.log_directory or str(default_log_directory),
            image=settings.kubernetes_image if settings.cluster == "kubernetes" else None,
            namespace=settings.kubernetes_namespace if settings.cluster == "kubernetes" else None,
        )


def run_spec(cluster: ClusterRequest, output_dir: str | Path) -> ClusterSpec:
    """The cluster of a flow run that writes into ``output_dir`` (worker job logs under it unless the
    pool sets a log directory), on the pool the run is in."""
    return cluster.spec(FlowSettings(), default_log_directory=Path(output_dir) / "dask-logs")


def _flow_run_spec() -> ClusterSpec | None:
    """The Slurm cluster the flow run of this process will open, from its ``cluster`` and
    ``output_dir`` parameters (read from the Prefect API); None when it has no output_dir."""
    import httpx  # a plain GET: Prefect's client would import Prefect first

    run_id, api_url = os.environ.get("PREFECT__FLOW_RUN_ID"), os.environ.get("PREFECT_API_URL")
    if not (run_id and api_url):
        return None
    headers = {}
    if os.environ.get("PREFECT_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['PREFECT_API_KEY']}"
    elif os.environ.get("PREFECT_API_AUTH_STRING"):
        token = base64.b64encode(os.environ["PREFECT_API_AUTH_STRING"].encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    response = httpx.get(f"{api_url.rstrip('/')}/flow_runs/{run_id}", headers=headers, timeout=10)
    response.raise_for_status()
    parameters = response.json().get("parameters") or {}
    if not parameters.get("output_dir"):
        return None
    spec = run_spec(ClusterRequest.model_validate(parameters.get("cluster") or {}), parameters["output_dir"])
    return spec if spec.kind == "slurm" else None


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # until Prefect's engine installs its own: run `finally`, close the cluster


def run_engine() -> None:
    """``python -m flows.clusters``: the flow-run process of a deployment whose flow fans out on a
    Slurm cluster of its ``cluster`` and ``output_dir`` parameters (survey-reprocess).

    It submits the cluster's worker jobs first, so that Slurm starts them while this process imports
    Prefect and the flow (~2 s), then runs Prefect's engine exactly as ``python -m prefect.engine``.
    The flow's :func:`open_cluster` adopts that cluster when its spec is the same; one not adopted
    (nothing to process, another spec, a failure) is closed when the engine is done. Any problem
    here only means the flow starts its cluster itself.
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        spec = _flow_run_spec()
        if spec is not None:
            _prestarted.append((spec, start_cluster(spec)))
    except Exception as exc:  # never fatal: the flow opens its own cluster
        print(f"flows.clusters: no cluster started ahead of the flow ({exc!r})", file=sys.stderr)
    try:
        runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
    finally:
        release_prestarted()


if __name__ == "__main__":
    from flows import clusters  # the module the flow imports, not this __main__ copy

    clusters.run_engine()
