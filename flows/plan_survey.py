"""``plan-survey``: survey-wide reprocessing where the offers say (what the nightly schedule runs).

The selection is resolved here, then the broker is asked for a ``survey-reprocess`` job over those images
(planned once for the whole survey); accepting the best offer makes the broker start that pool's
``survey-reprocess`` deployment with a Dask cluster sized by the offer, and this flow follows the session
until it ends (a cancelled run cancels its session). Finished images are skipped by ``survey-reprocess``
itself, so a nightly re-run only processes what changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow

from flows.plan import run_planned
from flows.process import JobResources
from flows.settings import FlowSettings
from flows.survey import SurveySelection

#: A survey's default request: up to 8 cores for its Dask cluster, two hours.
SURVEY_RESOURCES = JobResources(cores_min=1, cores_max=8, memory_gib_min=2, memory_gib_max=16, duration_minutes=120)


@flow(name="plan-survey")
def plan_survey(
    selection: SurveySelection,
    output_dir: str,
    options: dict[str, Any] | None = None,
    resources: JobResources = SURVEY_RESOURCES,
) -> dict[str, Any]:
    """Choose where the survey runs from the broker's offers, run ``survey-reprocess`` there, and return its
    summary (``options``: caesar-rest option names, checked by the broker, applied to every image)."""
    images = selection.resolve()
    if not images:
        raise ValueError(f"the selection matched no image: {selection.model_dump(exclude_none=True)}")
    job = resources.job(
        f"survey of {len(images)} image(s)", tuple(images), output_dir, dict(options or {}), flow="survey-reprocess"
    )
    decision, outcome = run_planned(FlowSettings().broker_url, job, "survey-reprocess")
    summary: dict[str, Any] = json.loads(Path(output_dir, "survey-summary.json").read_text())
    summary["work_pool"] = decision.work_pool
    summary["flow_run_id"] = outcome.flow_run_id
    return summary
