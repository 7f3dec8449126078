"""Survey throughput: `survey-reprocess` through Prefect on the local Slurm, against a plain
dask-jobqueue map of the same per-image function on the same kind of cluster, side by side.

Both sides start their own 2-worker SLURMCluster (1 core, 1 GiB each) and extract the same images
with the same function (`flows.work.extract_and_write`); the stack's time runs from the flow-run
request to COMPLETED and includes what the plain map does not do: worker pickup, the flow
process, hashing every image for its result key, atomic result commits, the merged catalogue and
the artifacts. Runs alternate, and each side keeps its best time.
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
from cirasa.services import free_port

RESULTS = Path(__file__).resolve().parent / "results"
N_IMAGES = int(os.environ.get("CIRASA_BENCH_SURVEY_IMAGES", "64"))
SIZE = int(os.environ.get("CIRASA_BENCH_SURVEY_SIZE", "2048"))
REPEATS = int(os.environ.get("CIRASA_BENCH_SURVEY_REPEATS", "2"))


def make_images(directory: Path) -> list[str]:
    from science.io.fits import write_image
    from science.simulate import simulate_image

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(N_IMAGES):
        image, _ = simulate_image(shape=(SIZE, SIZE), n_sources=SIZE // 8, seed=1000 + i, name=f"field{i:03d}")
        paths.append(str(write_image(directory / f"field{i:03d}.fits", image)))
    return paths


def plain_dask(images_glob: str, output: Path, log_dir: Path) -> float:
    """The peer, as a user would run it: a whole Python process that starts a SLURMCluster and maps
    the plain per-image function (no keys, no resume). Timed from process start to exit, as the
    stack's time includes its flow process starting."""
    start = time.perf_counter()
    argv = [sys.executable, "-m", "bench.survey", "--plain", images_glob, str(output), str(log_dir)]
    subprocess.run(argv, check=True, cwd=Path(__file__).resolve().parent.parent)
    return time.perf_counter() - start


def run_plain(images_glob: str, output: str, log_dir: str) -> None:
    """Body of the peer process."""
    import glob

    from dask_jobqueue.slurm import SLURMCluster
    from distributed import Client

    from flows.clusters import ClusterSpec, build_slurm_cluster_kwargs
    from flows.work import extract_and_write
    from science.extract.params import ExtractionParams

    images = sorted(glob.glob(images_glob))
    params = ExtractionParams()
    Path(output).mkdir(parents=True, exist_ok=True)
    spec = ClusterSpec(kind="slurm", workers=2, partition="debug", log_directory=log_dir)
    with SLURMCluster(**build_slurm_cluster_kwargs(spec)) as cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        cluster.scale(2)
        futures = client.map(extract_and_write, images, [params] * len(images), [output] * len(images))
        client.gather(futures)


def prefect_stack(config: Any, images_glob: str, output: Path) -> float:
    from flows.plan import submit_run, wait_for_run

    parameters = {"selection": {"pattern": images_glob}, "output_dir": str(output), "cluster": {"workers": 2}}
    start = time.perf_counter()
    flow_run_id = asyncio.run(submit_run("survey-reprocess/cirasa-slurm", parameters))
    outcome = asyncio.run(wait_for_run(flow_run_id, timeout_s=3600))
    wall = time.perf_counter() - start
    if outcome.state != "COMPLETED":
        raise RuntimeError(f"survey run ended {outcome.state}: {outcome.message}")
    return wall


def main() -> dict[str, Any]:
    from cirasa import services

    with tempfile.TemporaryDirectory(prefix="cirasa-bench-survey-") as tmp:
        home = Path(tmp)
        config = services.ServiceConfig(home=home / "home", prefect_port=free_port(), broker_port=free_port())
        make_images(home / "images")
        services.up(config, workers=("cirasa-slurm",))
        config.apply()
        from prefect.settings import PREFECT_API_URL, temporary_settings

        timings: dict[str, list[float]] = {"plain_dask_jobqueue": [], "prefect_stack": []}
        try:
            with temporary_settings(updates={PREFECT_API_URL: config.prefect_api_url}):
                for repeat in range(REPEATS):
                    out = home / f"plain-{repeat}"
                    glob_pattern = str(home / "images" / "*.fits")
                    timings["plain_dask_jobqueue"].append(round(plain_dask(glob_pattern, out, home / "logs"), 2))
                    shutil.rmtree(out, ignore_errors=True)
                    out = home / f"stack-{repeat}"
                    timings["prefect_stack"].append(
                        round(prefect_stack(config, str(home / "images" / "*.fits"), out), 2)
                    )
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
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "survey.json").write_text(json.dumps(document, indent=2) + "\n")
    return document


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plain"]:
        run_plain(*sys.argv[2:5])
    else:
        print(json.dumps(main(), indent=2))
