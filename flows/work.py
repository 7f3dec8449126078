"""What Dask workers run: tiles of one image, or whole images of a survey.

Kept in its own importable module: Prefect loads a flow's file by path (as a top-level module), and
functions defined there could not be unpickled on a Dask worker.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.results import ResultStore, result_key
from science.extract.params import ExtractionParams

if TYPE_CHECKING:
    from astropy.table import Table

    from science.extract.tiling import Tile
    from science.io.maps import MapFiles

# The extraction is imported by the functions, on the workers that run them: a flow process that only
# maps these functions does not import astropy.table, scipy and the extraction stages.


def run_tile(
    image: str, tile: Tile, params: ExtractionParams, maps_to: MapFiles | None = None
) -> tuple[Table, dict[str, str]]:
    """Extract one tile (its core's maps into ``maps_to``) and say where it ran (host and, on Slurm, the job id)."""
    from science.extract.tiling import extract_tile

    where = {"host": socket.gethostname(), "slurm_job_id": os.environ.get("SLURM_JOB_ID", "")}
    return extract_tile(image, tile, params, maps_to=maps_to), where


def extract_and_write(image: str, params: ExtractionParams, output_dir: str) -> dict[str, Any]:
    """Extract one image and write its caesar products into ``output_dir``: the plain work itself."""
    from science.extract.extractor import extract_file
    from science.io.catalogue import write_catalogue_products
    from science.io.naming import image_base_name
    from science.io.outputs import JobOutputs

    table = extract_file(image, params)
    sky = JobOutputs.plan(image, params, output_dir).sky
    files = write_catalogue_products(table, output_dir, image_base_name(image), sky=sky)
    return {
        "image": image,
        "n_sources": len(table),
        "catalogue": files["catalogue"].name if "catalogue" in files else None,
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID", ""),
    }


def process_image(image: str, params: ExtractionParams, root: str) -> dict[str, Any]:
    """Run on a Dask worker: key the image (content, options, code: hashed here, in parallel),
    return the stored result when that key is done, else extract and commit it under the key."""
    store = ResultStore(Path(root))
    key = result_key(image, params)
    if store.done(key):
        return store.read(key)
    staging = store.staging(key)
    result = {"key": key, **extract_and_write(image, params, str(staging))}
    store.commit(key, staging, result)
    return store.read(key)
