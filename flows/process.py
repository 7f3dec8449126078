"""``process-image``: the caesar-rest job as a flow: plan → extract on the chosen pool → (classify).

The planner task asks the broker for offers and accepts the best; the extraction then runs as a
child flow run of the chosen pool's ``extract-image`` deployment (a run cannot change its pool, so
the choice of pool is the choice of deployment).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from pydantic import BaseModel, Field

from flows.plan import cluster_for, plan_work_pool
from flows.settings import FlowSettings
from planner.planning import JobSpec
from science.extract.params import ExtractionParams


class JobResources(BaseModel):
    """What the job needs (minimum) and can use (maximum); the broker offers within these."""

    cores_min: int = Field(default=1, ge=1, description="Minimum cores")
    cores_max: int = Field(default=2, ge=1, description="Maximum cores the job can use")
    memory_gib_min: int = Field(default=1, ge=1, description="Minimum memory, GiB")
    memory_gib_max: int = Field(default=2, ge=1, description="Maximum memory, GiB")
    duration_minutes: int = Field(default=10, ge=1, description="Expected run time, minutes")


@flow(name="process-image")
def process_image(
    image: str,
    output_dir: str,
    params: ExtractionParams = ExtractionParams(tile_size=512),
    resources: JobResources = JobResources(),
) -> dict[str, Any]:
    """Plan where to run, extract the image there, and return the catalogue summary."""
    logger = get_run_logger()
    job = JobSpec(
        name=f"process-image {Path(image).name}",
        inputs=(image,),
        cores_min=resources.cores_min,
        cores_max=resources.cores_max,
        memory_gib_min=resources.memory_gib_min,
        memory_gib_max=resources.memory_gib_max,
        duration_minutes=resources.duration_minutes,
    )
    decision = plan_work_pool(FlowSettings().broker_url, job)
    deployment = decision.deployment("extract-image")
    logger.info("planner chose work pool %s: running %s", decision.work_pool, deployment)
    child = run_deployment(
        name=deployment,
        parameters={
            "image": image,
            "output_dir": output_dir,
            "params": params.model_dump(mode="json"),
            "cluster": cluster_for(decision),
        },
        timeout=resources.duration_minutes * 60,
        as_subflow=True,
    )
    state = child.state  # type: ignore[union-attr]
    if state is None or not state.is_completed():
        name = state.name if state else "unknown"
        raise RuntimeError(f"extraction on {decision.work_pool} ended {name}: {state.message if state else ''}")
    summary: dict[str, Any] = json.loads(Path(output_dir, "summary.json").read_text())
    summary["work_pool"] = decision.work_pool
    return summary
