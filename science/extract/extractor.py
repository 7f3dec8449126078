"""SourceExtractor: background → islands → island table, whole-image or tiled from a file."""

from __future__ import annotations

import logging
from pathlib import Path

from astropy.table import Table

from science.extract.background import BackgroundMaps
from science.extract.params import ExtractionParams
from science.extract.pipeline import extract_pixels
from science.extract.tiling import extract_tile, merge_tiles, plan_file_tiles
from science.image import Image
from science.io.fits import load_image
from science.io.maps import MapFiles

__all__ = ["ExtractionParams", "SourceExtractor", "extract_file"]

logger = logging.getLogger(__name__)


class SourceExtractor:
    """Extraction of a whole in-memory image with the stages ``params`` switches on.

    Parameters
    ----------
    params
        Extraction parameters; default caesar-rest's effective defaults.
    """

    def __init__(self, params: ExtractionParams | None = None) -> None:
        self.params = params or ExtractionParams()

    def __repr__(self) -> str:
        return f"SourceExtractor({self.params!r})"

    def extract(self, image: Image, maps_to: MapFiles | None = None, maps: BackgroundMaps | None = None) -> Table:
        """Island table of ``image`` (all :data:`~science.extract.sources.ISLAND_COLUMNS`, S1…Sn); its maps
        written into ``maps_to`` if given; on background and noise ``maps`` made elsewhere if given."""
        table = extract_pixels(
            image.data,
            wcs=image.wcs,
            beam=image.beam,
            pixscale_arcsec=image.pixscale_arcsec,
            frequency_hz=image.frequency_hz,
            params=self.params,
            maps=maps,
            maps_to=maps_to,
        )
        logger.info("%s: %d islands", image.name, len(table))
        return table


def extract_file(path: str | Path, params: ExtractionParams | None = None, *, maps_to: MapFiles | None = None) -> Table:
    """Extract a FITS image (or its sub-image, ``read_subimg``: positions in the whole image's pixels), tiled
    when ``params.tile_size > 0`` (tiles run one after another here); its
    background, noise and significance maps written into ``maps_to`` if given (:mod:`science.io.maps`).

    Raises
    ------
    InvalidImageError
        If the file cannot be used.
    """
    params = params or ExtractionParams()
    if params.tile_size == 0 and params.subimage() is None:
        return SourceExtractor(params).extract(
            load_image(path, beam=params.user_beam(), pixel_arcsec=params.mappixsize), maps_to
        )
    tiles = plan_file_tiles(path, params)
    table = merge_tiles([extract_tile(str(path), tile, params, maps_to=maps_to) for tile in tiles])
    logger.info("%s: %d islands from %d tiles", Path(path).name, len(table), len(tiles))
    return table
