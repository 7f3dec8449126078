"""plan-survey (what the nightly schedule runs) through the real Prefect server: the survey is planned once on the
broker's offers, survey-reprocess runs on the chosen pool, and the merged catalogue comes back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import yaml

from cirasa import services
from flows.plan import submit_run, wait_for_run
from science.io.catalogue import read_island_catalogue
from tests.flows.test_survey import make_survey
from tests.services.slurm import SlurmInfo

pytestmark = [pytest.mark.prefect, pytest.mark.slurm]


def test_the_nightly_survey_is_the_planned_one() -> None:
    document = yaml.safe_load((services.ROOT / "deployments" / "prefect.yaml").read_text())
    nightly = [d for d in document["deployments"] if d.get("schedules")]
    assert [(d["entrypoint"], d["name"]) for d in nightly] == [("flows/plan_survey.py:plan_survey", "nightly")]
    assert all(not s["active"] for s in nightly[0]["schedules"]), "created paused"


def test_plan_survey_chooses_a_pool_and_runs_the_survey_there(
    stack: services.ServiceConfig, slurm: SlurmInfo, tmp_path: Path
) -> None:
    make_survey(tmp_path / "survey", 3, 256)
    output = tmp_path / "out"
    parameters = {"selection": {"pattern": str(tmp_path / "survey" / "*.fits")}, "output_dir": str(output)}
    flow_run_id = asyncio.run(submit_run("plan-survey/cirasa-local", parameters))
    outcome = asyncio.run(wait_for_run(flow_run_id, timeout_s=300))
    assert outcome.state == "COMPLETED", f"{outcome.state}: {outcome.message} (logs in {stack.log_dir})"
    summary = json.loads((output / "survey-summary.json").read_text())
    assert (summary["images"], summary["processed"]) == (3, 3)
    merged = read_island_catalogue(output / "catalog-survey.dat")
    assert len(merged) == summary["n_sources"] > 0

    with httpx.Client(base_url=stack.prefect_api_url) as client:
        artifacts = client.post("/artifacts/filter", json={"artifacts": {"key": {"any_": ["offers"]}}}).json()
        offers = [a for a in artifacts if a["flow_run_id"] == flow_run_id]
        assert offers, "plan-survey published no offers table"
        rows = json.loads(offers[0]["data"]) if isinstance(offers[0]["data"], str) else offers[0]["data"]
        chosen = [row for row in rows if row["status"] == "chosen"]
        assert len(chosen) == 1
        body = {"flow_runs": {"tags": {"all_": ["survey"]}}, "sort": "START_TIME_DESC", "limit": 20}
        runs = client.post("/flow_runs/filter", json=body).json()
        surveys = [r for r in runs if r["parameters"].get("output_dir") == str(output) and r["id"] != flow_run_id]
        assert [r["state"]["type"] for r in surveys] == ["COMPLETED"], "the broker started one survey-reprocess run"


def test_a_selection_that_matches_nothing_fails_with_the_reason(stack: services.ServiceConfig, tmp_path: Path) -> None:
    parameters = {"selection": {"pattern": str(tmp_path / "nothing" / "*.fits")}, "output_dir": str(tmp_path / "o")}
    outcome = asyncio.run(wait_for_run(asyncio.run(submit_run("plan-survey/cirasa-local", parameters)), timeout_s=120))
    assert outcome.state == "FAILED"
    assert "the selection matched no image" in outcome.message
