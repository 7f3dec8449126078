"""Survey throughput: `survey-reprocess` through Prefect on the local Slurm, against a plain
dask-jobqueue map of the same per-image function on the same kind of cluster, side by side.

Both sides start their own 2-worker SLURMCluster (1 core, 1 GiB each) and extract the same images
with the same function (`flows.work.extract_and_write`); the stack's time runs from the flow-run
request to COMPLETED and includes what the plain map does not do: worker pickup, the flow
process, hashing every image for its result key, atomic result commits, the merged catalogue and
the artifacts. Runs alternate, and each side keeps its best time.

With CIRASA_BENCH_SURVEY_TIMELINE=1 the document also has each run's timeline (seconds from its
start): the flow run's states, logs and task runs from the Prefect API, the Slurm jobs' submission
and allocation (slurmctld's log), the Dask workers' start and registration (their job logs), and
the first and last image done; for the peer, its own marks.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import machine_info

RESULTS = Path(__file__).resolve().parent / "results"
N_IMAGES = int(os.environ.get("CIRASA_BENCH_SURVEY_IMAGES", "64"))
SIZE = int(os.environ.get("CIRASA_BENCH_SURVEY_SIZE", "2048"))
REPEATS = int(os.environ.get("CIRASA_BENCH_SURVEY_REPEATS", "2"))
# Set: each run's timeline (what happened when, seconds from its start) goes into the result too.
TIMELINE = os.environ.get("CIRASA_BENCH_SURVEY_TIMELINE", "") not in ("", "0")
_TIMELINE_FILE = "CIRASA_BENCH_SURVEY_TIMELINE_FILE"


def make_images(directory: Path) -> list[str]:
    from science.io.fits import write_image
    from science.simulate import simulate_image

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(N_IMAGES):
        image, _ = simulate_image(shape=(SIZE, SIZE), n_sources=SIZE // 8, seed=1000 + i, name=f"field{i:03d}")
        paths.append(str(write_image(directory / f"field{i:03d}.fits", image)))
    return paths


def plain_dask(images_glob: str, output: Path, log_dir: Path) -> tuple[float, list[tuple[float, str]]]:
    """The peer, as a user would run it: a whole Python process that starts a SLURMCluster and maps
    the plain per-image function (no keys, no resume). Timed from process start to exit, as the
    stack's time includes its flow process starting. Returns the wall time and, with TIMELINE, the
    process's timeline."""
    env = dict(os.environ)
    timeline_file = output.with_name(output.name + ".timeline.json")
    if TIMELINE:
        env[_TIMELINE_FILE] = str(timeline_file)
    argv = [sys.executable, "-m", "bench.survey", "--plain", images_glob, str(output), str(log_dir)]
    wall_start = time.time()
    start = time.perf_counter()
    subprocess.run(argv, check=True, cwd=Path(__file__).resolve().parent.parent, env=env)
    wall = time.perf_counter() - start
    if not TIMELINE:
        return wall, []
    events = [(wall_start, "process spawned"), *json.loads(timeline_file.read_text())]
    events += dask_worker_events(log_dir, wall_start)
    events.append((wall_start + wall, "process exited"))
    return wall, relative(events, wall_start)


def run_plain(images_glob: str, output: str, log_dir: str) -> None:
    """Body of the peer process."""
    marks: list[tuple[float, str]] = [(time.time(), "bench.survey running")]
    import glob

    from dask_jobqueue.slurm import SLURMCluster
    from distributed import Client

    from flows.clusters import ClusterSpec, build_slurm_cluster_kwargs
    from flows.work import extract_and_write
    from science.extract.params import ExtractionParams

    marks.append((time.time(), "imports done"))
    images = sorted(glob.glob(images_glob))
    # the flow's defaults (flows.survey.DEFAULT_PARAMS, not imported here: that would import Prefect)
    params = ExtractionParams(tile_size=4096)
    Path(output).mkdir(parents=True, exist_ok=True)
    spec = ClusterSpec(kind="slurm", workers=2, partition="debug", log_directory=log_dir)
    done: list[float] = []
    with SLURMCluster(**build_slurm_cluster_kwargs(spec)) as cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        cluster.scale(2)
        marks.append((time.time(), "cluster scaled (jobs submitted)"))
        futures = client.map(extract_and_write, images, [params] * len(images), [output] * len(images))
        for future in futures:
            future.add_done_callback(lambda _: done.append(time.time()))
        client.gather(futures)
        marks.append((time.time(), "results gathered"))
    marks.append((time.time(), "cluster closed"))
    if done:
        marks += [(min(done), "first image done"), (max(done), "last image done")]
    if os.environ.get(_TIMELINE_FILE):
        Path(os.environ[_TIMELINE_FILE]).write_text(json.dumps(marks))


def prefect_stack(config: Any, images_glob: str, output: Path) -> tuple[float, list[tuple[float, str]]]:
    """The stack, timed from the flow-run request to the COMPLETED state the flow run recorded.

    The run is watched at a slow pace (every second) and its end read from its final state's
    timestamp: a fast poll would itself load the 2-core machine the workers share (each read is
    ~7 ms of server CPU), and a slow one would add its own delay to the time."""
    from flows.plan import submit_run

    parameters = {"selection": {"pattern": images_glob}, "output_dir": str(output), "cluster": {"workers": 2}}
    wall_start = time.time()
    flow_run_id = asyncio.run(submit_run("survey-reprocess/cirasa-slurm", parameters))
    state, message, end = asyncio.run(wait_for_final_state(flow_run_id, timeout_s=3600))
    if state != "COMPLETED":
        raise RuntimeError(f"survey run ended {state}: {message}")
    wall = end - wall_start
    if not TIMELINE:
        return wall, []
    events = asyncio.run(flow_run_events(flow_run_id))
    events += dask_worker_events(Path(config.log_dir) / "dask", wall_start)
    done = [p.stat().st_mtime for p in (output / "results").glob("*/result.json")]
    if done:
        events += [(min(done), "first image done"), (max(done), "last image done")]
    events.append((wall_start, "flow run requested"))
    return wall, relative(events, wall_start)


async def wait_for_final_state(flow_run_id: str, timeout_s: float, poll_s: float = 1.0) -> tuple[str, str, float]:
    """Poll a flow run until it is final: its state type, message and when it got there (epoch s)."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while True:
            state = (await client.read_flow_run(UUID(flow_run_id))).state
            if state is not None and state.is_final():
                return state.type.value, state.message or "", state.timestamp.timestamp()
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow run {flow_run_id} not final after {timeout_s:.0f} s")
            await asyncio.sleep(poll_s)


def relative(events: list[tuple[float, str]], origin: float) -> list[tuple[float, str]]:
    """Events sorted by time, in seconds from ``origin``."""
    return [(round(when - origin, 3), what) for when, what in sorted(events, key=lambda event: event[0])]


async def flow_run_events(flow_run_id: str) -> list[tuple[float, str]]:
    """What the Prefect API knows of a flow run: its states, its task runs' states and its logs."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

    run_id = UUID(flow_run_id)
    events: list[tuple[float, str]] = []
    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        if run.created:
            events.append((run.created.timestamp(), "flow run created"))
        for state in await client.read_flow_run_states(run_id):
            events.append((state.timestamp.timestamp(), f"flow run {state.type.value}/{state.name}"))
        task_runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        for task_run in task_runs:
            for state in await client.read_task_run_states(task_run.id):
                events.append((state.timestamp.timestamp(), f"task {task_run.name} {state.type.value}"))
        logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        for log in logs:
            events.append((log.timestamp.timestamp(), f"log {log.name}: {log.message[:100]}"))
    return events


def dask_worker_events(log_dir: Path, since: float) -> list[tuple[float, str]]:
    """Dask worker jobs started after ``since``: when Slurm got and allocated each job (from
    slurmctld's log, where readable), when its nanny started and when its worker registered."""
    from datetime import datetime

    events: list[tuple[float, str]] = []
    job_ids = []
    for path in log_dir.glob("*.err"):
        if path.stat().st_mtime < since:
            continue
        for line in path.read_text(errors="replace").splitlines():
            stamp, _, message = line.partition(" - ")
            try:
                when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            except ValueError:
                continue
            if when < since:
                break
            job_ids.append(path.stem.rsplit("-", 1)[-1])
            for needle, what in (("Start Nanny", "nanny started"), ("Registered to", "worker registered")):
                if needle in message:
                    events.append((when, f"{path.stem}: {what}"))
    try:
        slurmctld_log = Path("/var/log/slurm/slurmctld.log").read_text(errors="replace").splitlines()[-2000:]
    except OSError:
        return events
    for line in slurmctld_log:
        for job_id in set(job_ids):
            for needle, what in (
                (f"submit_batch_job: JobId={job_id} ", "sbatch"),
                (f"Allocate JobId={job_id} ", "allocated"),
            ):
                if needle in line:
                    when = datetime.strptime(line[1:24], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
                    events.append((when, f"cirasa-dask-{job_id}: {what}"))
    return events


def main() -> dict[str, Any]:
    from cirasa import services
    from cirasa.services import free_port

    with tempfile.TemporaryDirectory(prefix="cirasa-bench-survey-") as tmp:
        home = Path(tmp)
        config = services.ServiceConfig(home=home / "home", prefect_port=free_port(), broker_port=free_port())
        make_images(home / "images")
        services.up(config, workers=("cirasa-slurm",))
        config.apply()
        from prefect.settings import PREFECT_API_URL, temporary_settings

        timings: dict[str, list[float]] = {"plain_dask_jobqueue": [], "prefect_stack": []}
        timelines: dict[str, list[list[tuple[float, str]]]] = {"plain_dask_jobqueue": [], "prefect_stack": []}
        try:
            with temporary_settings(updates={PREFECT_API_URL: config.prefect_api_url}):
                for repeat in range(REPEATS):
                    out = home / f"plain-{repeat}"
                    glob_pattern = str(home / "images" / "*.fits")
                    wall, timeline = plain_dask(glob_pattern, out, home / "logs")
                    timings["plain_dask_jobqueue"].append(round(wall, 2))
                    timelines["plain_dask_jobqueue"].append(timeline)
                    shutil.rmtree(out, ignore_errors=True)
                    out = home / f"stack-{repeat}"
                    wall, timeline = prefect_stack(config, glob_pattern, out)
                    timings["prefect_stack"].append(round(wall, 2))
                    timelines["prefect_stack"].append(timeline)
                    shutil.rmtree(out, ignore_errors=True)
        finally:
            services.down(config)
    best = {name: min(values) for name, values in timings.items()}
    document = {
        "benchmark": "survey",
        "images": N_IMAGES,
        "image_size": SIZE,
        "cluster": "SLURMCluster, 2 workers x 1 core, local single-node Slurm",
        "timed": "whole processes: the peer's script from start to exit; the stack from flow-run request to COMPLETED",
        "goal": {"stack_over_plain_max": 1.10},
        "results": {
            "wall_s": timings,
            "best_s": best,
            "stack_over_plain": round(best["prefect_stack"] / best["plain_dask_jobqueue"], 3),
        },
        "machine": machine_info(),
        "python": sys.version.split()[0],
    }
    if TIMELINE:
        document["timelines"] = timelines
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "survey.json").write_text(json.dumps(document, indent=2) + "\n")
    return document


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plain"]:
        run_plain(*sys.argv[2:5])
    else:
        print(json.dumps(main(), indent=2))
