"""survey-reprocess through the real Prefect server on the real local Slurm: completes, survives a
cancelled worker job, merges without duplicates, and a re-run skips every finished image."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cirasa import services
from flows.plan import submit_run, wait_for_run
from flows.results import ResultStore, result_key
from science.extract.params import ExtractionParams
from science.io.catalogue import read_island_catalogue
from science.io.fits import write_image
from science.simulate import simulate_image
from tests.services.slurm import SlurmInfo

N_IMAGES = 12


def make_survey(directory: Path, n: int, size: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        image, _ = simulate_image(shape=(size, size), n_sources=40, seed=100 + i, name=f"tile{i:02d}")
        paths.append(str(write_image(directory / f"tile{i:02d}.fits", image)))
    return paths


def test_result_keys_follow_content_and_options(tmp_path: Path) -> None:
    first, second = make_survey(tmp_path, 2, 128)
    params = ExtractionParams()
    copy = tmp_path / "copy.fits"
    copy.write_bytes(Path(first).read_bytes())
    assert result_key(first, params) == result_key(copy, params)
    assert result_key(first, params) != result_key(second, params)
    assert result_key(first, params) != result_key(first, ExtractionParams(seedthr=6.0))


def test_a_result_is_committed_once(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    first, second = store.staging("k"), store.staging("k")
    assert store.commit("k", first, {"n": 1})
    assert not store.commit("k", second, {"n": 2})
    assert store.read("k") == {"n": 1}
    assert not second.exists()


def test_flow_run_processes_are_the_engine(tmp_path: Path) -> None:
    """Every deployment's flow-run process is the engine in the services' Python: without a command
    the process worker first starts a workspace supervisor (a Python importing Prefect to run the
    pull steps) that then execs the engine, ~0.8 s more per flow run. survey-reprocess on Slurm
    goes through flows.clusters, which submits the worker jobs before running the same engine."""
    document = yaml.safe_load((services.ROOT / "deployments" / "prefect.yaml").read_text())
    commands = {
        (d["entrypoint"], d["name"]): d["work_pool"]["job_variables"]["command"] for d in document["deployments"]
    }
    for (entrypoint, name), command in commands.items():
        module = "flows.clusters" if entrypoint.startswith("flows/survey.py") and "slurm" in name else "prefect.engine"
        assert command == f"{{{{ $CIRASA_PYTHON }}}} -m {module}", (entrypoint, name, command)
    config = services.ServiceConfig(home=tmp_path, prefect_port=1, broker_port=2)
    assert config.env()["CIRASA_PYTHON"] == sys.executable


def _running_worker_jobs() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-n", "cirasa-dask", "-t", "R", "-o", "%i"], capture_output=True, text=True)
    return out.stdout.split()


@pytest.mark.slurm
@pytest.mark.prefect
def test_survey_on_slurm_survives_a_lost_worker_and_resumes(
    stack: services.ServiceConfig, slurm: SlurmInfo, tmp_path: Path
) -> None:
    make_survey(tmp_path / "survey", N_IMAGES, 1024)
    output = tmp_path / "out"
    parameters = {
        "selection": {"pattern": str(tmp_path / "survey" / "*.fits")},
        "output_dir": str(output),
        "cluster": {"workers": 2},
    }
    flow_run_id = asyncio.run(submit_run("survey-reprocess/cirasa-slurm", parameters))

    # Cancel one worker's Slurm job once the survey is under way, as a pre-empted node would.
    results = output / "results"
    deadline = time.monotonic() + 180
    killed: str | None = None
    done_at_kill = 0
    while time.monotonic() < deadline and killed is None:
        jobs = _running_worker_jobs()
        done = len([p for p in results.glob("*") if not p.name.startswith(".")]) if results.exists() else 0
        if len(jobs) == 2 and done >= 1:
            killed, done_at_kill = jobs[0], done
            subprocess.run(["scancel", killed], check=True)
        time.sleep(0.1)
    assert killed is not None, "the survey never ran on two Slurm workers"
    assert done_at_kill < N_IMAGES, "the survey finished before the worker could be lost; make it longer"

    outcome = asyncio.run(wait_for_run(flow_run_id, timeout_s=300))
    assert outcome.state == "COMPLETED", f"{outcome.state}: {outcome.message} (logs in {stack.log_dir})"
    summary = json.loads((output / "survey-summary.json").read_text())
    assert (summary["images"], summary["processed"], summary["skipped"]) == (N_IMAGES, N_IMAGES, 0)
    merged = read_island_catalogue(output / "catalog-survey.dat")
    assert len(merged) == summary["n_sources"] == sum(r["n_sources"] for r in summary["results"])
    assert len(set(merged["name"])) == len(merged), "duplicate rows in the merged catalogue"
    assert {r["image"].rsplit("/", 1)[1] for r in summary["results"]} == {f"tile{i:02d}.fits" for i in range(N_IMAGES)}
    assert all(r["slurm_job_id"] for r in summary["results"])

    again = asyncio.run(submit_run("survey-reprocess/cirasa-slurm", parameters))
    outcome = asyncio.run(wait_for_run(again, timeout_s=120))
    assert outcome.state == "COMPLETED", outcome.message
    rerun = json.loads((output / "survey-summary.json").read_text())
    assert (rerun["processed"], rerun["skipped"]) == (0, N_IMAGES)
    assert len(read_island_catalogue(output / "catalog-survey.dat")) == len(merged)
