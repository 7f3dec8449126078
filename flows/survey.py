"""``survey-reprocess``: extract many images on one Dask cluster and merge a survey catalogue.

Resumable and idempotent: each image's result is keyed by (content, options, code version) in a
:class:`~flows.results.ResultStore`; finished keys are skipped, and a worker lost mid-run (a
cancelled Slurm job) only makes Dask recompute that worker's images.
"""

from __future__ import annotations

import glob as globbing
import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field, model_validator

from flows.clusters import ClusterRequest, open_cluster, release_prestarted, run_spec
from flows.extract import over_defaults
from flows.results import ResultStore
from flows.work import process_image
from science.extract.params import ExtractionParams
from science.io.naming import image_base_name


class SurveySelection(BaseModel):
    """Which images to process: explicit paths, a glob pattern, or a manifest file (one path a line)."""

    images: list[str] = Field(default_factory=list, description="Image paths")
    pattern: str | None = Field(default=None, description="Glob pattern, e.g. /data/survey/*.fits")
    manifest: str | None = Field(default=None, description="Text file listing one image path per line")

    @model_validator(mode="after")
    def _something(self) -> SurveySelection:
        if not (self.images or self.pattern or self.manifest):
            raise ValueError("give images, a pattern or a manifest")
        return self

    def resolve(self) -> list[str]:
        paths = list(self.images)
        if self.pattern:
            paths += sorted(globbing.glob(self.pattern))
        if self.manifest:
            lines = Path(self.manifest).read_text().splitlines()
            paths += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        return list(dict.fromkeys(str(Path(p).resolve()) for p in paths))  # unique, order kept


@task(name="extract-survey-images")
def extract_images(
    images: list[str], params: ExtractionParams, output_dir: str, cluster: ClusterRequest
) -> tuple[list[dict[str, Any]], int]:
    """One coarse task: skip finished images, fan the rest out on one Dask cluster.

    Images whose key the index knows (unchanged files) and whose result exists are skipped without
    a cluster; the others are keyed and processed on the workers, in parallel.
    """
    logger = get_run_logger()
    store = ResultStore(Path(output_dir))
    known = {image: store.known_key(image, params) for image in images}
    finished = {image: key for image, key in known.items() if key is not None and store.done(key)}
    todo = [image for image in images if image not in finished]
    logger.info("%d image(s), %d already done, %d to process", len(images), len(finished), len(todo))
    if not todo:
        release_prestarted()  # a cluster submitted ahead of the flow has nothing to do
        return [store.read(finished[image]) for image in images], len(finished)
    with open_cluster(run_spec(cluster, output_dir)) as client:
        futures = client.map(process_image, todo, [params] * len(todo), [output_dir] * len(todo), pure=False)
        results = {image: store.read(key) for image, key in finished.items()}  # while the workers work
        processed: list[dict[str, Any]] = client.gather(futures)  # type: ignore[no-untyped-call]
    results.update({image: result for image, result in zip(todo, processed, strict=True)})
    store.remember([(image, result["key"]) for image, result in zip(todo, processed, strict=True)], params)
    return [results[image] for image in images], len(finished)


def merge_catalogue(results: list[dict[str, Any]], output_dir: str) -> Path | None:
    """Concatenate the per-image caesar catalogues (header once; names prefixed by the image).

    Each image contributes its committed result exactly once, so recomputed work never duplicates
    rows. A plain function, not a task: it takes milliseconds, a task run would cost more.
    """
    store = ResultStore(Path(output_dir))
    header: list[str] = []
    rows: list[str] = []
    for result in results:
        if not result["catalogue"]:
            continue
        lines = (store.path(result["key"]) / result["catalogue"]).read_text().splitlines()
        prefix = image_base_name(result["image"])
        header = header or [line for line in lines if line.startswith("#")]
        rows += [f"{prefix}:{line}" for line in lines if line and not line.startswith("#")]
    if not rows:
        return None
    merged = Path(output_dir) / "catalog-survey.dat"
    merged.write_text("\n".join([*header, *rows]) + "\n")
    return merged


#: survey-reprocess's extraction defaults: images larger than 4096² run in 4096-pixel tiles one after another
#: on their worker (bounded memory for mosaics); smaller ones whole, as before.
DEFAULT_PARAMS = ExtractionParams(tile_size=4096)


@flow(name="survey-reprocess")
def reprocess_survey(
    selection: SurveySelection,
    output_dir: str,
    params: ExtractionParams = DEFAULT_PARAMS,
    cluster: ClusterRequest = ClusterRequest(),
) -> dict[str, Any]:
    """Extract every selected image (skipping finished ones) and write a merged survey catalogue.

    Writes ``<output_dir>/catalog-survey.dat`` and ``<output_dir>/survey-summary.json``; ``params`` a caller
    gives in part go over the flow's defaults.
    """
    params = over_defaults(params, DEFAULT_PARAMS)
    images = selection.resolve()
    if not images:
        raise ValueError(f"the selection matched no image: {selection.model_dump(exclude_none=True)}")
    results, skipped = extract_images(images, params, output_dir, cluster)
    merged = merge_catalogue(results, output_dir)
    summary = {
        "images": len(images),
        "skipped": skipped,
        "processed": len(images) - skipped,
        "n_sources": sum(r["n_sources"] for r in results),
        "catalogue": str(merged) if merged else None,
        "results": results,
    }
    Path(output_dir, "survey-summary.json").write_text(json.dumps(summary, indent=2))
    create_table_artifact(
        key="survey-summary",
        table=[{k: r[k] for k in ("image", "n_sources", "slurm_job_id", "key")} for r in results],
        description=f"{len(images)} images, {skipped} skipped (already done), {summary['n_sources']} sources",
    )
    get_run_logger().info("survey: %d images (%d skipped), %d sources", len(images), skipped, summary["n_sources"])
    return summary
