"""``cirasa demo``: the main job end to end on local services.

Start services → simulate an image with truth → ask the broker for offers → choose and accept →
run the extraction deployment of the chosen pool through the Prefect API → wait → compare the
catalogue with the truth. Ctrl-C cancels the run and stops every service it started.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from cirasa import services
from cirasa.render import offers_table
from planner.client import BrokerClient
from planner.planning import JobSpec, PlanDecision, plan

FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


@dataclass(frozen=True)
class RunOutcome:
    flow_run_id: str
    state: str
    message: str
    summary: dict[str, Any]


def cluster_from_offer(decision: PlanDecision) -> dict[str, Any]:
    """Size the Dask cluster from the accepted offer: one single-core worker per offered core."""
    compute = decision.session.compute
    cores = compute.cores.min if compute and compute.cores and compute.cores.min else 1
    memory = compute.memory.min if compute and compute.memory and compute.memory.min else 1
    return {"workers": cores, "cores_per_worker": 1, "memory_gib_per_worker": max(memory / cores, 0.5)}


async def run_deployment_and_wait(
    deployment: str, parameters: dict[str, Any], timeout_s: float = 240.0
) -> tuple[str, str, str]:
    """Create a flow run of ``deployment`` and poll it to a final state; return (id, state, message)."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    flow_run = await run_deployment(name=deployment, parameters=parameters, timeout=0)
    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while True:
            current = await client.read_flow_run(flow_run.id)
            state = current.state
            if state is not None and state.type.value in FINAL_STATES:
                return str(flow_run.id), state.type.value, state.message or ""
            if time.monotonic() > deadline:
                return (
                    str(flow_run.id),
                    state.type.value if state else "UNKNOWN",
                    f"no final state after {timeout_s:.0f} s",
                )
            await asyncio.sleep(1.0)


async def cancel_flow_run(flow_run_id: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    async with get_client() as client:
        await client.set_flow_run_state(flow_run_id, Cancelling(), force=True)


def run_demo(console: Console, *, size: int = 512, n_sources: int = 60, seed: int = 42) -> int:
    config = services.ServiceConfig.from_env()
    config.apply()
    started = time.monotonic()
    try:
        console.rule("[bold]cirasa demo")
        with console.status("starting local services (Slurm when available, Prefect, workers, broker)…"):
            status = services.up(config)
        for name, line in status.items():
            console.print(f"  {name:<20} {line}")
        return _run(console, config, size=size, n_sources=n_sources, seed=seed, started=started)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping every local service")
        stopped = services.down(config)
        console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return 130


def _run(
    console: Console, config: services.ServiceConfig, *, size: int, n_sources: int, seed: int, started: float
) -> int:
    from science.io.catalogue import read_island_catalogue
    from science.match import match_to_truth

    from science.io.fits import write_image
    from science.io.truth import write_truth
    from science.simulate import simulate_image

    out = config.home / "demo" / time.strftime("%Y%m%dT%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    image, truth = simulate_image(shape=(size, size), n_sources=n_sources, seed=seed)
    image_path = write_image(out / "sim.fits", image)
    write_truth(truth, out / "sim_truth.ecsv")
    console.print(f"simulated {image_path.name}: {size}×{size} px, {len(truth)} sources (truth in sim_truth.ecsv)")

    job = JobSpec(name="demo-extraction", inputs=(str(image_path),), cores_min=1, cores_max=2, memory_gib_max=2)

    async def _plan() -> PlanDecision:
        async with BrokerClient(config.broker_url) as client:
            return await plan(client, job)

    decision = asyncio.run(_plan())
    console.print(offers_table(decision.choice.rows, title="Offers from the broker (best first)"))
    deployment = decision.deployment("extract-image")
    console.print(f"chosen: [bold green]{decision.work_pool}[/] → deployment [bold]{deployment}[/]")

    parameters = {
        "image": str(image_path),
        "output_dir": str(out / "extraction"),
        "cluster": cluster_from_offer(decision),
    }
    flow_run_id = ""
    try:
        with console.status(f"running {deployment} through the Prefect API…"):
            flow_run_id, state, message = asyncio.run(run_deployment_and_wait(deployment, parameters))
    except KeyboardInterrupt:
        if flow_run_id:
            asyncio.run(cancel_flow_run(flow_run_id))
        raise
    console.print(f"flow run {flow_run_id}: [bold]{state}[/] {message}")
    if state != "COMPLETED":
        console.print(f"[red]the extraction did not complete; logs: {config.log_dir}")
        return 1

    summary = json.loads((out / "extraction" / "summary.json").read_text())
    catalogue_files = [f for f in summary["files"] if f.endswith(".dat")]
    catalogue = read_island_catalogue(catalogue_files[0])
    match = match_to_truth(catalogue, truth, radius_pix=3.0, snr_min=10.0)
    slurm_jobs = sorted({w["slurm_job_id"] for w in summary["workers"] if w["slurm_job_id"]})
    console.rule("catalogue")
    console.print(f"sources found: {summary['n_sources']} (truth: {len(truth)})")
    console.print(
        f"completeness (truth S/N ≥ 10): {match.completeness:.3f}   reliability: {match.reliability:.3f}   "
        f"matched {match.n_matched}"
    )
    where = f"Slurm jobs {', '.join(slurm_jobs)}" if slurm_jobs else "a local Dask cluster"
    console.print(f"Dask workers ran on: {where}")
    console.rule("files")
    for path in [
        str(image_path),
        str(out / "sim_truth.ecsv"),
        *summary["files"],
        str(out / "extraction" / "summary.json"),
    ]:
        console.print(f"  {path}")
    console.rule("Prefect")
    console.print(f"UI: {config.prefect_ui_url}/runs/flow-run/{flow_run_id}")
    console.print(
        f"done in {time.monotonic() - started:.0f} s. Services keep running; stop them with `cirasa server down`."
    )
    return 0


def demo_output_dir(config: services.ServiceConfig) -> Path:
    return config.home / "demo"
