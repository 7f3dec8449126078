"""What Dask workers run. Kept in its own importable module: Prefect loads a flow's file by path
(as a top-level module), and functions defined there could not be unpickled on a Dask worker."""

from __future__ import annotations

import os
import socket

from astropy.table import Table

from science.extract.params import ExtractionParams
from science.extract.tiling import Tile, extract_tile


def run_tile(image: str, tile: Tile, params: ExtractionParams) -> tuple[Table, dict[str, str]]:
    """Extract one tile and say where it ran (host and, on Slurm, the job id)."""
    where = {"host": socket.gethostname(), "slurm_job_id": os.environ.get("SLURM_JOB_ID", "")}
    return extract_tile(image, tile, params), where
