"""``process-image``: the caesar-rest job as a flow: plan → extract on the chosen pool → classify.

The planner task asks the broker for offers and accepts the best; accepting makes the broker start
the chosen pool's ``extract-image`` deployment (a run cannot change its pool, so the choice of pool
is the choice of deployment), and this flow follows the session until it ends; a cancelled run cancels
its session (the broker then cancels the extraction). caesar-rest's options (``options``, caesar-rest's
names, as :class:`cirasa.jobmanager.PrefectJobManager` passes them) go to the broker as they are: it
checks them against caesar-rest's schema and the extraction applies them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import BaseModel, Field

from flows.artifacts import render_overlay_png
from flows.classify import publish_classification, task_classify_and_write
from flows.extract import over_defaults
from flows.plan import run_planned
from flows.settings import FlowSettings
from planner.planning import JobSpec
from planner.wire.caesar import extraction_params
from science.extract.params import ExtractionParams
from science.io.catalogue import read_island_catalogue
from science.io.fits import image_base_name


class JobResources(BaseModel):
    """What the job needs (minimum) and can use (maximum); the broker offers within these."""

    cores_min: int = Field(default=1, ge=1, description="Minimum cores")
    cores_max: int = Field(default=2, ge=1, description="Maximum cores the job can use")
    memory_gib_min: int = Field(default=1, ge=1, description="Minimum memory, GiB")
    memory_gib_max: int = Field(default=2, ge=1, description="Maximum memory, GiB")
    duration_minutes: int = Field(default=10, ge=1, description="Expected run time, minutes")

    def job(
        self, name: str, inputs: tuple[str, ...], output_dir: str, options: dict[str, Any], flow: str = "extract-image"
    ) -> JobSpec:
        """The broker job of ``flow`` over ``inputs`` asking for these resources."""
        return JobSpec(
            name=name,
            inputs=inputs,
            flow=flow,
            cores_min=self.cores_min,
            cores_max=self.cores_max,
            memory_gib_min=self.memory_gib_min,
            memory_gib_max=self.memory_gib_max,
            duration_minutes=self.duration_minutes,
            output_dir=output_dir,
            options=options,
        )


def changed_fields(params: ExtractionParams) -> dict[str, Any]:
    """The settings of ``params`` that differ from the extraction's defaults, as the broker's job options (the
    extraction's field names, JSON values): what the extraction on the chosen pool must apply."""
    values, defaults = params.model_dump(mode="json"), ExtractionParams().model_dump(mode="json")
    return {name: value for name, value in values.items() if value is not None and value != defaults.get(name)}


#: process-image's extraction defaults: tiled, and fitted (the classifier reads the components).
DEFAULT_PARAMS = ExtractionParams(tile_size=512, fitsources=True)


@flow(name="process-image")
def process_image(
    image: str,
    output_dir: str,
    params: ExtractionParams = DEFAULT_PARAMS,
    resources: JobResources = JobResources(),
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Plan where to run, extract the image there, and return the catalogue summary (``params`` a caller
    gives in part go over the flow's defaults; caesar-rest ``options`` go over both)."""
    params = over_defaults(params, DEFAULT_PARAMS)
    job_options = changed_fields(params)
    job_options.update(options or {})
    job = resources.job(f"process-image {Path(image).name}", (image,), output_dir, job_options)
    decision, outcome = run_planned(FlowSettings().broker_url, job, "extraction")
    summary: dict[str, Any] = json.loads(Path(output_dir, "summary.json").read_text())
    summary["work_pool"] = decision.work_pool
    summary["flow_run_id"] = outcome.flow_run_id
    base = image_base_name(image)
    catalogue = Path(output_dir, f"catalog-{base}.dat")
    if catalogue.exists():  # caesar writes no catalogue when it finds no source
        # caesar's summary plot (caesar-rest asks for it on every job; its preview routes serve plot_*.png)
        applied = params.model_copy(update=extraction_params(options or {}))  # the beam or pixel size a job gives
        overlay = render_overlay_png(image, read_island_catalogue(catalogue), params=applied)
        Path(output_dir, f"plot_{base}.png").write_bytes(overlay)
        classification = task_classify_and_write(str(catalogue), output_dir, None, None, None)
        publish_classification(classification)
        summary["class_counts"] = classification["class_counts"]
    return summary
