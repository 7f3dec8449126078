"""``cirasa demo``: the main job end to end on local services.

Start services → simulate an image with truth → ask the broker for offers → choose and accept →
run the extraction deployment of the chosen pool through the Prefect API → wait → compare the
catalogue with the truth. Ctrl-C cancels the run and stops every service it started.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from rich.console import Console

from cirasa import services
from cirasa.render import offers_table
from planner.planning import JobSpec


def run_demo(console: Console, *, size: int = 1024, n_sources: int = 200, seed: int = 42) -> int:
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
    from flows.plan import cancel_session, plan_with_broker, wait_for_session
    from science.io.catalogue import read_island_catalogue
    from science.io.fits import write_image
    from science.io.truth import write_truth
    from science.match import match_to_truth
    from science.simulate import simulate_image

    out = config.home / "demo" / time.strftime("%Y%m%dT%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    image, truth = simulate_image(shape=(size, size), n_sources=n_sources, seed=seed)
    image_path = write_image(out / "sim.fits", image)
    write_truth(truth, out / "sim_truth.ecsv")
    console.print(f"simulated {image_path.name}: {size}×{size} px, {len(truth)} sources (truth in sim_truth.ecsv)")

    extraction = out / "extraction"
    job = JobSpec(
        name="demo-extraction",
        inputs=(str(image_path),),
        cores_min=1,
        cores_max=2,
        memory_gib_max=2,
        output_dir=str(extraction),
    )
    decision = asyncio.run(plan_with_broker(config.broker_url, job))
    console.print(offers_table(decision.choice.rows, title="Offers from the broker (best first)"))
    session_id = decision.session.meta.uuid if decision.session.meta else ""
    console.print(
        f"chosen: [bold green]{decision.work_pool}[/] → the broker runs deployment "
        f"[bold]{decision.deployment('extract-image')}[/] for session {session_id}"
    )
    try:
        with console.status(f"session {session_id}: waiting for the run on {decision.work_pool}…"):
            outcome = asyncio.run(wait_for_session(config.broker_url, str(session_id), timeout_s=240))
    except KeyboardInterrupt:
        asyncio.run(cancel_session(config.broker_url, str(session_id)))
        raise
    flow_run_id = outcome.flow_run_id or "?"
    console.print(f"session phases: {' → '.join(outcome.phases_seen)}; flow run {flow_run_id}")
    if outcome.phase != "COMPLETED":
        console.print(f"[red]the extraction did not complete: {'; '.join(outcome.messages)}; logs: {config.log_dir}")
        return 1

    summary = json.loads((extraction / "summary.json").read_text())
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
        str(extraction / "summary.json"),
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
