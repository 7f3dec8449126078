"""A person's path through the Prefect UI: open process-image, fill its typed form, run it, and see
the run complete with the planner's offers artifact (real Chromium driven by Playwright)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from cirasa import services
from science.io.fits import write_image
from science.simulate import simulate_image
from tests.services.slurm import SlurmInfo

pytestmark = [pytest.mark.prefect, pytest.mark.slurm]


@pytest.fixture
def page(chromium: str, stack: services.ServiceConfig) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        context = browser.new_context(base_url=stack.prefect_ui_url, viewport={"width": 1440, "height": 900})
        context.route("**/*amplitude.com/**", lambda route: route.abort())  # the UI's analytics SDK, offline
        yield context.new_page()
        context.close()
        browser.close()


def test_process_image_from_the_ui_form(
    page: Page, stack: services.ServiceConfig, slurm: SlurmInfo, tmp_path: Path
) -> None:
    image, _ = simulate_image(shape=(384, 384), n_sources=25, seed=11)
    path = write_image(tmp_path / "ui.fits", image)

    deployment_id = _deployment_id(stack, "process-image/cirasa-local")
    page.goto(f"/v2/deployments/deployment/{deployment_id}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Custom run").click()
    expect(page.get_by_role("heading", name="Parameters")).to_be_visible()

    # The pydantic parameters are a typed form: nested models with their descriptions and defaults.
    image_box = page.get_by_role("textbox", name="image", exact=True)
    expect(image_box).to_be_visible(timeout=60_000)  # the form is built from the schema after a while
    image_box.fill(str(path))
    page.get_by_role("textbox", name="output_dir", exact=True).fill(str(tmp_path / "ui-out"))
    expect(page.get_by_text("Seed threshold in", exact=False).first).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Seedthr (Optional)", exact=True)).to_have_value("5")
    expect(page.get_by_role("spinbutton", name="Cores Max (Optional)", exact=True)).to_have_value("2")
    # what is submitted is what was typed (the form is rebuilt from the schema while it loads)
    expect(image_box).to_have_value(str(path))
    expect(page.get_by_role("textbox", name="output_dir", exact=True)).to_have_value(str(tmp_path / "ui-out"))
    _submit(page)

    # The run the form created, found through the API by its output directory: the UI's toast says so too, but a
    # toast is transient, and a run name read from the form before Submit may not be the run's (the form is rebuilt
    # while it loads and draws a new random name: a full suite once saw no run of the name read)
    run_id, run_name = _created_run(stack, deployment_id, str(tmp_path / "ui-out"))
    toast = page.get_by_role("region", name=re.compile("^Notifications"))
    shown = toast.get_by_text(f"{run_name} scheduled to start now").or_(page.get_by_role("link", name=run_name))
    expect(shown.first).to_be_visible(timeout=60_000)  # the toast, or the run's page the form moved on to
    page.goto(f"/v2/runs/flow-run/{run_id}")
    expect(page.get_by_role("tab", name="Job Variables")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Completed", exact=True)).to_be_visible(timeout=180_000)

    page.get_by_role("tab", name="Artifacts").click()
    expect(page.get_by_role("heading", name="offers", exact=True)).to_be_visible()
    page.get_by_role("link").filter(has=page.get_by_role("heading", name="offers", exact=True)).click()
    panel = page.get_by_role("tabpanel", name="Artifact")
    expect(panel.get_by_text("chosen", exact=True)).to_be_visible()
    assert (tmp_path / "ui-out" / "catalog-ui.dat").exists()
    query = {"deployments": {"id": {"any_": [deployment_id]}}}
    runs = httpx.post(f"{stack.prefect_api_url}/flow_runs/filter", json=query).json()
    assert [r["id"] for r in runs if r["parameters"].get("output_dir") == str(tmp_path / "ui-out")] == [run_id]


def _submit(page: Page, attempts: int = 3) -> None:
    """Click Submit until the form is gone, as a person clicks again when nothing happens: a click that lands
    while the form re-renders is lost (seen: the form still there, filled and valid, 120 s on). A click that did
    submit moves the page on, so no second run is made."""
    page.wait_for_load_state("networkidle")
    submit = page.get_by_role("button", name="Submit")
    for attempt in range(attempts):
        submit.click()
        if attempt:
            print(f"Submit clicked again (attempt {attempt + 1})")
        try:
            expect(submit).to_be_hidden(timeout=15_000)  # the form is gone: the page moved on
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise


def _created_run(
    stack: services.ServiceConfig, deployment_id: str, output_dir: str, timeout: float = 120.0
) -> tuple[str, str]:
    """The id and name of the deployment's flow run writing into ``output_dir``, once the server has it."""
    query = {"deployments": {"id": {"any_": [deployment_id]}}, "sort": "START_TIME_DESC", "limit": 50}
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.post(f"{stack.prefect_api_url}/flow_runs/filter", json=query)
        response.raise_for_status()
        runs = [r for r in response.json() if r.get("parameters", {}).get("output_dir") == output_dir]
        if runs:
            return str(runs[0]["id"]), str(runs[0]["name"])
        assert time.monotonic() < deadline, f"no flow run into {output_dir} {timeout:.0f} s after Submit"
        time.sleep(0.5)


def _deployment_id(stack: services.ServiceConfig, name: str) -> str:
    flow, deployment = name.split("/")
    response = httpx.get(f"{stack.prefect_api_url}/deployments/name/{flow}/{deployment}")
    response.raise_for_status()
    return str(response.json()["id"])
