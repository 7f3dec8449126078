"""Tiled extraction: tile plan, per-tile extraction from the file, seam de-duplication and merge.

Each tile is its *core* (the cores partition the image) grown by an overlap on every side that is not an
image edge. A tile keeps the islands whose unweighted centroid lies in its core. The background grid is
anchored to the full image (see :mod:`science.extract.background`), so with the default overlap
(:func:`required_overlap_pixels`: one background box, two grid steps and ten beams for the island) every
pixel of a kept island has exactly the untiled background, rms and significance: each island is found
once, by the tile whose core holds its centroid, with the untiled pixels.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from science.errors import ParameterError
from science.extract.params import ExtractionParams
from science.extract.pipeline import extract_pixels
from science.extract.sources import assign_names, shift_pixels, stack_islands
from science.image import Beam
from science.io.fits import load_image_info, load_section
from science.io.maps import MapFiles

__all__ = [
    "ISLAND_MARGIN_BEAMS",
    "Tile",
    "extract_tile",
    "merge_tiles",
    "plan_file_tiles",
    "plan_tiles",
    "required_overlap_pixels",
]

logger = logging.getLogger(__name__)

#: Largest island extent (in beams) the default overlap accommodates beyond the background margin.
ISLAND_MARGIN_BEAMS = 10.0


@dataclass(frozen=True)
class Tile:
    """A tile: read region ``[y0:y1, x0:x1]`` and core ``[core_y0:core_y1, core_x0:core_x1]`` (0-based, half-open)."""

    index: int
    y0: int
    y1: int
    x0: int
    x1: int
    core_y0: int
    core_y1: int
    core_x0: int
    core_x1: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` of the read region."""
        return self.y1 - self.y0, self.x1 - self.x0


def _cuts(n: int, size: int) -> list[int]:
    count = max(1, math.ceil(n / size))
    return [round(i * n / count) for i in range(count + 1)]


def plan_tiles(shape: tuple[int, int], tile_size: int, overlap: int) -> list[Tile]:
    """Split an image into tiles whose cores partition it exactly.

    Parameters
    ----------
    shape
        ``(ny, nx)`` of the image.
    tile_size
        Largest core side in pixels (cores are as equal as possible).
    overlap
        Pixels added to each side of a core, clipped at the image edges.

    Returns
    -------
    list[Tile]
        Row-major (y outer, x inner), ``index`` 0…n−1.

    Raises
    ------
    ParameterError
        If ``tile_size < 1``, ``overlap < 0`` or the shape is empty.
    """
    ny, nx = shape
    if tile_size < 1 or overlap < 0 or ny < 1 or nx < 1:
        raise ParameterError(
            f"need tile_size ≥ 1, overlap ≥ 0 and a non-empty shape; got {tile_size}, {overlap}, {shape}"
        )
    ys, xs = _cuts(ny, tile_size), _cuts(nx, tile_size)
    tiles: list[Tile] = []
    for cy0, cy1 in itertools.pairwise(ys):
        for cx0, cx1 in itertools.pairwise(xs):
            tiles.append(
                Tile(
                    len(tiles),
                    max(0, cy0 - overlap),
                    min(ny, cy1 + overlap),
                    max(0, cx0 - overlap),
                    min(nx, cx1 + overlap),
                    cy0,
                    cy1,
                    cx0,
                    cx1,
                )
            )
    return tiles


def required_overlap_pixels(params: ExtractionParams, beam_size_pixels: float) -> int:
    """Overlap making tile results equal to untiled ones: box + 2 grid steps (twice with ``bkgskipoutliers``
    or ``bkgislandcorrection``: the second estimate's boxes must see the first estimate's islands; again for
    every compact-search iteration) + :data:`ISLAND_MARGIN_BEAMS` beams."""
    estimator = params.background_estimator()
    box = estimator.box_pixels(beam_size_pixels)
    passes = (2 if params.bkgskipoutliers or params.bkgislandcorrection else 1) * max(
        1, params.compactsearchiters
    )  # each on the last
    return passes * (box + 2 * estimator.step_pixels(box)) + math.ceil(ISLAND_MARGIN_BEAMS * beam_size_pixels)


def plan_file_tiles(image_path: str | Path, params: ExtractionParams, *, beam: Beam | None = None) -> list[Tile]:
    """Tile plan for a FITS file from its header only (one tile when ``params.tile_size`` is 0), over its
    sub-image with ``read_subimg`` (tiles in the sub-image's pixels; :func:`extract_tile` reads them there).

    Raises
    ------
    InvalidImageError
        If the header is invalid (see :func:`~science.io.fits.load_image_info`).
    """
    info = load_image_info(
        image_path, beam=beam or params.user_beam(), region=params.subimage(), pixel_arcsec=params.mappixsize
    )
    ny, nx = info.shape
    if params.tile_size == 0:
        return [Tile(0, 0, ny, 0, nx, 0, ny, 0, nx)]
    beam_px = info.beam.size_pixels(info.pixscale_arcsec)
    needed = required_overlap_pixels(params, beam_px)
    if params.tile_overlap_beams is None:
        overlap = needed
    else:
        overlap = math.ceil(params.tile_overlap_beams * beam_px)
        if overlap < needed:
            logger.warning(
                "tile overlap %d px < %d px: islands near seams may differ from an untiled run", overlap, needed
            )
    return plan_tiles(info.shape, params.tile_size, overlap)


def extract_tile(
    image_path: str, tile: Tile, params: ExtractionParams, *, beam: Beam | None = None, maps_to: MapFiles | None = None
) -> Table:
    """Extract the islands of one tile, reading only its pixels.

    Parameters
    ----------
    image_path
        FITS image.
    tile
        Tile from :func:`plan_tiles` / :func:`plan_file_tiles`.
    params
        Extraction parameters.
    beam
        Beam when the header has none (else ``params``' user beam).
    maps_to
        FITS maps (:class:`science.io.maps.MapFiles`) to write the tile core's background, noise and
        significance into.

    Returns
    -------
    Table
        Islands whose unweighted centroid lies in the tile core, in full-image pixel coordinates; names
        are provisional (use :func:`merge_tiles`).

    Raises
    ------
    InvalidImageError
        If the file is invalid.
    """
    info, data = load_section(
        image_path,
        tile.y0,
        tile.y1,
        tile.x0,
        tile.x1,
        beam=beam or params.user_beam(),
        region=params.subimage(),
        pixel_arcsec=params.mappixsize,
    )
    table = extract_pixels(
        data,
        wcs=info.wcs,
        beam=info.beam,
        pixscale_arcsec=info.pixscale_arcsec,
        frequency_hz=info.frequency_hz,
        params=params,
        origin=(tile.y0, tile.x0),
        full_shape=info.shape,
        maps_to=maps_to,
        core=(tile.core_y0 - tile.y0, tile.core_y1 - tile.y0, tile.core_x0 - tile.x0, tile.core_x1 - tile.x0),
    )
    x, y = np.asarray(table["x"]), np.asarray(table["y"])
    in_core = (
        (x >= tile.core_x0 - 0.5) & (x < tile.core_x1 - 0.5) & (y >= tile.core_y0 - 0.5) & (y < tile.core_y1 - 0.5)
    )
    table = table[in_core]
    ny, nx = info.shape
    cut = (
        ((np.asarray(table["xmin"]) == tile.x0) & (tile.x0 > 0))
        | ((np.asarray(table["xmax"]) == tile.x1 - 1) & (tile.x1 < nx))
        | ((np.asarray(table["ymin"]) == tile.y0) & (tile.y0 > 0))
        | ((np.asarray(table["ymax"]) == tile.y1 - 1) & (tile.y1 < ny))
    )
    if cut.any():
        logger.warning(
            "tile %d: %d island(s) reach a cut edge and may be truncated; increase tile_overlap_beams",
            tile.index,
            int(cut.sum()),
        )
    shift_pixels(table, *info.offset)  # a sub-image's islands in the whole image's pixels
    logger.debug("tile %d: %d islands in core", tile.index, len(table))
    return table


def merge_tiles(tables: Sequence[Table]) -> Table:
    """Concatenate per-tile islands, sort in caesar scan order and rename ``S1…Sn``."""
    return assign_names(stack_islands(tables))
