"""``extract-image``: caesar-style extraction of one image, tiles fanned out on a Dask cluster.

A thin layer: the science is in :mod:`science.extract`; this module only chooses the cluster from
the pool's settings, maps the pure tile function over it, and writes the caesar files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from astropy.table import Table
from prefect import flow, get_run_logger, task

from flows.artifacts import publish_extraction
from flows.clusters import ClusterRequest, ClusterSpec, open_cluster
from flows.settings import FlowSettings
from flows.work import run_tile
from science.extract.params import ExtractionParams
from science.extract.tiling import merge_tiles, plan_file_tiles
from science.io.catalogue import write_catalogue_products
from science.io.fits import image_base_name
from science.io.maps import MapFiles
from science.io.outputs import JobOutputs
from science.io.sky_regions import SkyRegions


@task(name="extract-tiles")
def extract_tiles(
    image: str, params: ExtractionParams, spec: ClusterSpec, maps_to: MapFiles | None = None
) -> tuple[Table, list[dict[str, str]]]:
    """One coarse Prefect task; plain Dask fan-out of the tiles inside it (each writes its maps' core)."""
    logger = get_run_logger()
    tiles = plan_file_tiles(image, params)
    logger.info("%s: %d tile(s) on a %s cluster of %d worker(s)", image, len(tiles), spec.kind, spec.workers)
    with open_cluster(spec) as client:
        n = len(tiles)
        futures = client.map(run_tile, [image] * n, tiles, [params] * n, [maps_to] * n, pure=False)
        results: list[tuple[Table, dict[str, str]]] = client.gather(futures)  # type: ignore[no-untyped-call]
    tables = [table for table, _ in results]
    return merge_tiles(tables), [where for _, where in results]


@task(name="write-catalogue")
def write_catalogue(table: Table, output_dir: str, base: str, sky: SkyRegions | None = None) -> list[str]:
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    return [str(p) for p in write_catalogue_products(table, output_dir, base, sky=sky).values()]


#: extract-image's extraction defaults: tiles of 512 px, fanned out on the cluster's workers.
DEFAULT_PARAMS = ExtractionParams(tile_size=512)


def over_defaults(params: ExtractionParams, defaults: ExtractionParams = DEFAULT_PARAMS) -> ExtractionParams:
    """``params`` over a flow's ``defaults``: the fields its caller set win (a caesar-rest job's options, sent
    as a dict), the others keep the flow's default, not ExtractionParams' own (a job giving ``seedthr`` alone
    is still tiled)."""
    merged = defaults.model_dump(mode="json", include=defaults.model_fields_set)
    merged.update(params.model_dump(mode="json", include=params.model_fields_set))
    return ExtractionParams.model_validate(merged)


@flow(name="extract-image", log_prints=False)
def extract_image(
    image: str,
    output_dir: str,
    params: ExtractionParams = DEFAULT_PARAMS,
    cluster: ClusterRequest = ClusterRequest(),
    save: list[str] | None = None,
    unapplied: list[str] | None = None,
) -> dict[str, Any]:
    """Find the sources of one radio image and write caesar's island catalogue and DS9 regions.

    Dask workers run where the work pool says (``CIRASA_FLOWS_CLUSTER``): locally or as Slurm jobs.
    ``save`` takes caesar-rest's map options (``save-fits`` with ``save-bkgmap``, ``save-rmsmap``,
    ``save-significancemap``: caesar's ``out-<base>_<map>.fits``); maps this engine does not write are
    logged, as are the caesar-rest options of ``unapplied`` (given, but not implemented by this engine).
    A summary is written to ``<output_dir>/summary.json`` and returned.
    """
    logger = get_run_logger()
    if unapplied:
        logger.warning("caesar options this engine does not implement, ignored: %s", ", ".join(unapplied))
    params = over_defaults(params)
    settings = FlowSettings()
    spec = cluster.spec(settings, default_log_directory=Path(output_dir) / "dask-logs")
    outputs = JobOutputs.plan(image, params, output_dir, save or [])
    for note in outputs.notes:
        logger.warning("%s", note)
    # Bounded: a cluster whose workers never come back must fail the run, not hang it.
    bounded = extract_tiles.with_options(timeout_seconds=cluster.walltime_minutes * 60)
    table, placements = bounded(image, params, spec, outputs.maps_to)
    base = image_base_name(image)
    files = write_catalogue(table, output_dir, base, outputs.sky) + outputs.map_paths
    publish_extraction(image, table, params=params)
    summary: dict[str, Any] = {
        "image": image,
        "n_sources": len(table),
        "files": files,
        "cluster": settings.cluster,
        "unapplied_options": list(unapplied or []),
        "workers": placements,
    }
    Path(output_dir, "summary.json").write_text(json.dumps(summary, indent=2))
    logger.info("%s: %d source(s) written to %s", base, len(table), output_dir)
    return summary
