"""process-image through the Prefect API: the planner task chooses, the child extraction runs on
the chosen pool, and the run carries its artifacts (offers, catalogue summary, overlay picture)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from cirasa import services
from flows.plan import submit_run, wait_for_run
from science.io.fits import write_image
from science.simulate import simulate_image
from tests.services.slurm import SlurmInfo

pytestmark = [pytest.mark.prefect, pytest.mark.slurm]


def test_process_image_plans_extracts_and_publishes_artifacts(
    stack: services.ServiceConfig, slurm: SlurmInfo, tmp_path: Path
) -> None:
    image, _ = simulate_image(shape=(512, 512), n_sources=40, seed=7)
    path = write_image(tmp_path / "job.fits", image)
    settings = {"rejectartefacts": True, "extendedsearch": False, "fit_maxcomponents": 2}  # not defaults
    parameters = {"image": str(path), "output_dir": str(tmp_path / "out"), "params": settings}
    flow_run_id = asyncio.run(submit_run("process-image/cirasa-local", parameters))
    outcome = asyncio.run(wait_for_run(flow_run_id, timeout_s=240))
    assert outcome.state == "COMPLETED", f"{outcome.state}: {outcome.message} (logs in {stack.log_dir})"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_sources"] > 20
    classified = (tmp_path / "out" / "catalog_classified-job.dat").read_text().splitlines()
    rows = [line for line in classified if not line.startswith("#")]
    assert len(rows) >= summary["n_sources"], "every extracted source gets a class"
    assert (tmp_path / "out" / "catalog_fitcomp-job.dat").exists(), "process-image fits components"

    with httpx.Client(base_url=stack.prefect_api_url) as client:
        artifacts = client.post("/artifacts/filter", json={"artifacts": {"key": {"any_": ["offers"]}}}).json()
        offers = [a for a in artifacts if a["flow_run_id"] == flow_run_id]
        assert offers, "the planner task published no offers table"
        rows = json.loads(offers[0]["data"]) if isinstance(offers[0]["data"], str) else offers[0]["data"]
        assert {row["status"] for row in rows} >= {"chosen"}
        keys = {"extraction-catalogue", "extraction-overlay", "classification-counts"}
        published = client.post("/artifacts/filter", json={"artifacts": {"key": {"any_": sorted(keys)}}}).json()
        assert keys <= {a["key"] for a in published}
        overlay = next(a for a in published if a["key"] == "extraction-overlay")
        assert "data:image/png;base64," in overlay["data"]
        # what the form set reaches the extraction the broker started on the chosen pool
        runs = client.post("/flow_runs/filter", json={"flow_runs": {"tags": {"all_": ["extraction"]}}}).json()
        extraction = [r for r in runs if r["parameters"].get("output_dir") == str(tmp_path / "out")]
        assert len(extraction) == 1
        assert settings.items() <= extraction[0]["parameters"]["params"].items()
        assert extraction[0]["parameters"]["params"]["fitsources"] is True  # process-image's own default
