"""classify-catalog: the pure steps without Prefect, then the deployed flow on the real Prefect stack
(products written, class counts and the confusion PNG published as artifacts); and the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cirasa import services
from cirasa.main import app
from flows.classify import classify_and_write, render_confusion_png
from flows.plan import submit_run, wait_for_run
from science.io.fits import write_image
from science.io.truth import write_truth
from science.simulate import simulate_image


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    image, truth = simulate_image(
        shape=(384, 384), n_sources=25, n_resolved=5, n_doubles=2, sidelobe_level=0.06, snr_max=1000.0, seed=31
    )
    directory = tmp_path_factory.mktemp("sim")
    return write_image(directory / "sky.fits", image), write_truth(truth, directory / "sky_truth.ecsv")


def test_confusion_png_is_a_png() -> None:
    png = render_confusion_png([[5, 1, 0], [0, 3, 0], [1, 0, 4]], ("compact", "extended", "spurious"), "t")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_classify_and_write_against_truth(simulated: tuple[Path, Path], tmp_path: Path) -> None:
    image, truth = simulated
    summary = classify_and_write(str(image), str(tmp_path), truth=str(truth))
    names = {Path(f).name for f in summary["files"]}
    assert {
        "catalog_classified-sky.dat",
        "catalog-sky.json",
        "catalog_classified-sky.xml",
        "confusion-sky.png",
    } <= names
    assert (tmp_path / "catalog-sky.dat").is_file()
    matrix = summary["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == summary["n_sources"] == sum(summary["class_counts"].values())


def test_cli_classifies_a_catalogue_and_rejects_a_bad_model(simulated: tuple[Path, Path], tmp_path: Path) -> None:
    image, _ = simulated
    runner = CliRunner()
    first = runner.invoke(app, ["classify", str(image), "--out", str(tmp_path / "a")], terminal_width=200)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["classify", str(tmp_path / "a" / "catalog-sky.dat"), "--out", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / "catalog_classified-sky.dat").is_file()
    assert (tmp_path / "b" / "confusion-sky.png").is_file()  # the model's validation matrix
    stamp = tmp_path / "old.json"
    stamp.write_text(json.dumps({"format": "cirasa-source-classifier", "format_version": 0}))
    bad = runner.invoke(app, ["classify", str(image), "--model", str(stamp), "--out", str(tmp_path / "c")])
    assert bad.exit_code == 1
    assert "model-version-mismatch" in bad.output and "Traceback" not in bad.output
    help_text = runner.invoke(app, ["classify", "train", "--help"], terminal_width=200).output
    assert "Example: " in help_text and "cirasa classify train" in help_text


@pytest.mark.prefect
def test_classify_catalog_flow_publishes_the_confusion_matrix(
    stack: services.ServiceConfig, simulated: tuple[Path, Path], tmp_path: Path
) -> None:
    image, truth = simulated
    parameters = {"target": str(image), "output_dir": str(tmp_path / "out"), "truth": str(truth)}
    flow_run_id = asyncio.run(submit_run("classify-catalog/cirasa-local", parameters))
    outcome = asyncio.run(wait_for_run(flow_run_id, timeout_s=180))
    assert outcome.state == "COMPLETED", f"{outcome.state}: {outcome.message} (logs in {stack.log_dir})"
    summary = json.loads((tmp_path / "out" / "classification-summary.json").read_text())
    assert summary["n_sources"] > 10
    keys = ["classification-confusion", "classification-counts"]
    with httpx.Client(base_url=stack.prefect_api_url) as client:
        found = client.post("/artifacts/filter", json={"artifacts": {"key": {"any_": keys}}}).json()
    mine = {a["key"]: a for a in found if a["flow_run_id"] == flow_run_id}
    assert set(mine) == set(keys)
    assert "data:image/png;base64," in mine["classification-confusion"]["data"]
