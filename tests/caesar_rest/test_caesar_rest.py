"""The real caesar-rest (its routes and job monitor, unmodified) running caesar jobs through our job manager:
caesar-rest → Prefect API (``process-image``) → the broker's offers → the extraction on the chosen pool (real
Prefect server and workers, real local Slurm) → caesar's files in caesar-rest's job directory."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from astropy.io import fits

from cirasa import services
from science.extract.extractor import extract_file
from science.extract.params import ExtractionParams
from science.io.fits import write_image
from science.simulate import simulate_image
from tests.caesar_rest.conftest import CaesarRest
from tests.services.slurm import SlurmInfo

pytestmark = [pytest.mark.prefect, pytest.mark.slurm]

FINAL = {"SUCCESS", "FAILURE", "CANCELED", "CLEARED", "UNKNOWN", "TIMED-OUT"}


def upload(client: httpx.Client, path: Path) -> str:
    with path.open("rb") as handle:
        response = client.post("/upload", files={"file": (path.name, handle, "application/octet-stream")})
    assert response.status_code == 200, response.text
    return str(response.json()["uuid"])


def submit(client: httpx.Client, file_uuid: str, options: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/job", json={"app": "caesar", "job_inputs": options, "data_inputs": file_uuid})
    assert response.status_code in (200, 202), response.text
    return dict(response.json())


def wait_state(
    caesar: CaesarRest, client: httpx.Client, job_id: str, states: set[str], timeout_s: float
) -> dict[str, Any]:
    """Run caesar-rest's job monitor until the job's stored state is one of ``states``."""
    deadline = time.monotonic() + timeout_s
    while True:
        caesar.monitor()
        status = client.get(f"/job/{job_id}/status").json()
        if status["state"] in states or time.monotonic() > deadline:
            return dict(status)
        time.sleep(1.0)


def sky(tmp: Path, name: str, size: int = 512) -> Path:
    image, _ = simulate_image(shape=(size, size), n_sources=40, seed=11)
    return write_image(tmp / name, image)


def test_caesar_job_runs_on_the_planned_pool_with_its_options(
    caesar: CaesarRest, slurm: SlurmInfo, stack: services.ServiceConfig, tmp_path: Path
) -> None:
    path = sky(tmp_path, "field.fits")
    options = {"seedthr": 8, "no-extendedsearch": True, "nested-blobthr": 1.0}  # the last one: not implemented
    with httpx.Client(base_url=caesar.url, timeout=30) as client:
        job = submit(client, upload(client, path), options)
        assert job["state"] == "PENDING"
        status = wait_state(caesar, client, job["job_id"], FINAL, 300)
        assert status["state"] == "SUCCESS", f"{status} (logs in {stack.log_dir})"
        assert status["exit_code"] == 0
        assert status["pid"] and status["pid"] != job["job_id"], "the pid is the Prefect flow run"
        # a job submitted to Slurm before this manager (its pid a Slurm number) does not stop the others' monitoring
        assert set(caesar.manager.get_job_statuses([status["pid"], "12345"]) or {}) == {status["pid"]}
        assert caesar.manager.delete_job("12345") == -1, "no such flow run: caesar-rest answers 500"
        assert caesar.manager.delete_job("8a88ea95-003a-4ce6-a655-5082bfeef6da") == -1
        sources = client.get(f"/job/{job['job_id']}/sources")
        assert sources.status_code == 200, sources.text
        archive = client.get(f"/job/{job['job_id']}/output")
        assert archive.status_code == 200
        preview = client.get(f"/job/{job['job_id']}/preview")
        assert preview.status_code == 200, "caesar's summary plot (plot_*.png) is there for caesar-rest's preview"

    expected = extract_file(path, ExtractionParams(seedthr=8, extendedsearch=False))
    default = extract_file(path, ExtractionParams(extendedsearch=False))
    assert len(expected) < len(default), "the test image must tell seedthr 8 from the default 5"
    found = sources.json()
    records = found if isinstance(found, list) else found.get("sources", found)
    assert len(records) == len(expected), "caesar-rest's seedthr reached the extraction"
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        names = {Path(n).name for n in tar.getnames()}
    base = next(iter(Path(caesar.job_dir).glob(f"*/job_{job['job_id']}"))).name
    assert base == f"job_{job['job_id']}"
    assert any(n.startswith("catalog-") and n.endswith(".dat") for n in names), names
    assert any(n.startswith("catalog_fitcomp-") for n in names), "process-image fits components"
    job_dir = next(Path(caesar.job_dir).glob(f"*/job_{job['job_id']}"))
    summary = json.loads((job_dir / "summary.json").read_text())
    assert summary["unapplied_options"] == ["nested-blobthr"], "an option this engine lacks is named, not lost"


def test_a_broken_image_ends_the_job_in_failure_with_the_reason(
    caesar: CaesarRest, slurm: SlurmInfo, stack: services.ServiceConfig, tmp_path: Path
) -> None:
    path = tmp_path / "kelvin.fits"
    header = fits.Header({"BUNIT": "K", "BMAJ": 0.002, "BMIN": 0.002, "CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN"})
    header.update({"CDELT1": -5e-4, "CDELT2": 5e-4, "CRPIX1": 32, "CRPIX2": 32, "CRVAL1": 150.0, "CRVAL2": -30.0})
    fits.PrimaryHDU(np.ones((64, 64), np.float32), header).writeto(path)
    with httpx.Client(base_url=caesar.url, timeout=30) as client:
        job = submit(client, upload(client, path), {"npixmin": 5})
        status = wait_state(caesar, client, job["job_id"], FINAL, 300)
    assert status["state"] == "FAILURE", f"{status} (logs in {stack.log_dir})"
    assert status["exit_code"] == 1
    assert "BUNIT='K'" in status["status"], status["status"]


def test_a_bad_option_value_fails_the_job_with_the_brokers_reason(
    caesar: CaesarRest, slurm: SlurmInfo, tmp_path: Path
) -> None:
    path = sky(tmp_path, "bad-option.fits", size=128)
    with httpx.Client(base_url=caesar.url, timeout=30) as client:
        # caesar-rest passes enums as caesar's codes: 9 is no bkgestimator (1-4)
        job = submit(client, upload(client, path), {"seedthr": 5, "mergethr": 9})
        status = wait_state(caesar, client, job["job_id"], FINAL, 300)
    assert status["state"] == "FAILURE", status
    assert "mergethr" in status["status"], status["status"]


def test_cancel_through_caesar_rest_stops_the_run_and_its_extraction(
    caesar: CaesarRest, slurm: SlurmInfo, stack: services.ServiceConfig, tmp_path: Path
) -> None:
    path = sky(tmp_path, "big.fits", size=2048)
    with httpx.Client(base_url=caesar.url, timeout=30) as client:
        job = submit(client, upload(client, path), {"npixmin": 5})
        wait_state(caesar, client, job["job_id"], {"RUNNING"} | FINAL, 120)
        response = client.post(f"/job/{job['job_id']}/cancel")
        assert response.status_code == 200, response.text
        assert client.get(f"/job/{job['job_id']}/status").json()["state"] == "CANCELED"
        pid = client.get(f"/job/{job['job_id']}/status").json()["pid"]
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=stack.prefect_api_url, timeout=30) as prefect:
        while True:
            run = prefect.get(f"/flow_runs/{pid}").json()
            if run["state"]["type"] in ("CANCELLED", "COMPLETED", "FAILED", "CRASHED") or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert run["state"]["type"] == "CANCELLED", run["state"]
        job_dir = next(Path(caesar.job_dir).glob(f"*/job_{job['job_id']}"))
        deadline = time.monotonic() + 60  # the worker notices the cancel and stops the run
        while True:
            states = {r["state"]["type"] for r in extraction_runs(prefect, job_dir) if r["id"] != pid}
            if states <= {"CANCELLED", "COMPLETED", "FAILED", "CRASHED"} or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        # The flow cancelled its broker session, and the broker the extraction (unless it had already ended);
        # when Prefect's worker finishes that cancellation is its own affair (a full suite once saw it take minutes).
        assert states <= {"CANCELLING", "CANCELLED", "COMPLETED"}, states


def test_submit_when_prefect_cannot_be_reached_is_refused_and_nothing_is_lost(
    caesar: CaesarRest, tmp_path: Path
) -> None:
    path = sky(tmp_path, "offline.fits", size=128)
    working = caesar.manager.api_url
    caesar.manager.api_url = "http://127.0.0.1:9/api"  # nothing listens on the discard port
    caesar.manager._deployment_id = None
    try:
        with httpx.Client(base_url=caesar.url, timeout=30) as client:
            response = client.post(
                "/job", json={"app": "caesar", "job_inputs": {"npixmin": 5}, "data_inputs": upload(client, path)}
            )
            assert response.status_code == 500
            assert response.json()["state"] == "ABORTED"
            assert caesar.manager.get_job_statuses(["00000000-0000-0000-0000-000000000000"]) is None
    finally:
        caesar.manager.api_url = working


def test_operator_settings_are_checked_against_the_deployment_and_taken_by_prefect(
    stack: services.ServiceConfig,
) -> None:
    from cirasa.jobmanager import PrefectJobManager, _post

    good = {"seedpeakinterp": True, "bkgislandcorrection": True}
    assert PrefectJobManager(api_url=stack.prefect_api_url, params=good).initialize() == 0
    bad = PrefectJobManager(api_url=stack.prefect_api_url, params={**good, "seedpeak": True})
    assert bad.initialize() == -1, "a name process-image's params lack stops caesar-rest at start"
    # Prefect takes a run with them (its parameter schema): scheduled far ahead so that no worker runs it
    manager = PrefectJobManager(api_url=stack.prefect_api_url, params=good)
    job = manager.create_job(inputfile="/nowhere/a.fits", job_name="schema-check", job_outdir="/nowhere/out")
    assert job is not None
    with httpx.Client(base_url=stack.prefect_api_url, timeout=30) as prefect:
        deployment = manager._deployment(prefect)  # (looked up as caesar-rest's manager does: asked again while busy)
        ahead = {"type": "SCHEDULED", "state_details": {"scheduled_time": "2100-01-01T00:00:00Z"}}
        body = {"name": "schema-check", "parameters": job["parameters"], "state": ahead}
        response = _post(prefect, f"/deployments/{deployment}/create_flow_run", body)  # asked again while busy
        assert response.status_code == 201, response.text
        run = response.json()
        try:
            assert run["parameters"]["params"] == good
        finally:
            for _ in range(5):  # a busy server (the suite's other runs) answers 503 now and then
                if prefect.delete(f"/flow_runs/{run['id']}").status_code in (204, 404):
                    break
                time.sleep(1.0)


def extraction_runs(prefect: httpx.Client, output_dir: Path) -> list[dict[str, Any]]:
    """The extract-image runs the broker started for a job (by their output directory)."""
    body = {"flow_runs": {"tags": {"all_": ["cirasa"]}}, "deployments": {"name": {"like_": "cirasa-"}}, "limit": 200}
    runs = prefect.post("/flow_runs/filter", json=body).json()
    return [r for r in runs if Path(str(r.get("parameters", {}).get("output_dir", ""))) == output_dir]
