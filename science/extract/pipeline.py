"""The extraction stages on one array (a whole image or a tile).

background → compact islands → nested → extended sources and merge → fit → artefact flags. caesar fits
before the extended search and refits the merged sources afterwards; merging first and fitting once gives
the same islands and fits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from astropy.wcs import WCS

from science.extract.artefacts import flag_artefacts
from science.extract.background import BackgroundEstimator, BackgroundMaps
from science.extract.boxbkg import BoxBackground
from science.extract.boxcorrect import island_corrected
from science.extract.islands import IslandFinder, IslandPixels, LabelIslands, pixel_mask
from science.extract.params import ExtractionParams
from science.image import Beam

if TYPE_CHECKING:
    from science.io.maps import MapFiles

__all__ = ["background_maps", "compact_islands", "estimate_maps", "extract_pixels"]

logger = logging.getLogger(__name__)


def background_maps(
    data: npt.NDArray[np.float32],
    params: ExtractionParams,
    beam_pixels: float,
    *,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
) -> BackgroundMaps:
    """Background and noise maps of ``params`` (:func:`estimate_maps`, ``bkgskipoutliers`` with its islands;
    ``bkgislandcorrection``: corrected for the islands found on them, :mod:`science.extract.boxcorrect`)."""
    skip = params.island_finder() if params.bkgskipoutliers else None
    estimator = params.background_estimator()
    maps = estimate_maps(data, estimator, beam_pixels, skip=skip, origin=origin, full_shape=full_shape)
    if params.bkgislandcorrection:
        islands = params.island_finder().mask(maps.significance(data), grow=1, reuse=True)
        maps = island_corrected(maps, islands, data, estimator.threads)
    return maps


def estimate_maps(
    data: npt.NDArray[np.float32],
    estimator: BackgroundEstimator,
    beam_pixels: float,
    *,
    skip: IslandFinder | None = None,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
) -> BackgroundMaps:
    """Background and noise maps by ``estimator``; with ``skip`` (caesar ``bkgskipoutliers``) estimated again
    without the islands ``skip`` finds on the first maps (grown by one pixel, to take in their wings below the
    merge threshold), positive and negative ones (caesar's ``BkgFinder`` masks negative excesses too:
    negative sidelobes, imaging artefacts)."""
    maps = estimator.estimate(data, beam_pixels, origin=origin, full_shape=full_shape)
    if skip is not None:
        z = maps.significance(data)
        sources = skip.mask(np.negative(z), grow=1, reuse=True)
        sources |= skip.mask(z, grow=1, reuse=True)
        maps = estimator.estimate(
            data, beam_pixels, origin=origin, full_shape=full_shape, exclude=sources, noise=maps.rms
        )
    return maps


def compact_islands(
    data: npt.NDArray[np.float32],
    maps: BackgroundMaps,
    params: ExtractionParams,
    beam_pixels: float,
    *,
    wcs: WCS,
    beam_area_pixels: float,
    frequency_hz: float | None,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
) -> tuple[Table, list[IslandPixels]]:
    """Compact islands and their pixels, in ``params.compactsearchiters`` iterations as caesar's
    ``FindCompactSourcesRobust``: after the first, the pixels of the islands found so far are set to 0, the
    maps estimated again on that image (its zeros count in the boxes, as caesar's), the seed threshold
    lowered by ``seedthrstep`` while it stays above ``mergethr``, and new islands found where the
    significance is not zeroed; an iteration that finds none ends the search. The islands are then the
    connected components of everything found, measured on the first maps (caesar's merge pass). One
    iteration (the default) is a single flood fill; none, or ``compactsearch`` off, finds nothing.
    """
    finder = params.island_finder()
    common = {
        "wcs": wcs, "beam_area_pixels": beam_area_pixels, "frequency_hz": frequency_hz, "origin": origin,
        "full_shape": full_shape,
    }  # fmt: skip
    if params.compactsearchiters == 1 and params.compactsearch:
        return finder.find_islands(data, maps, **common)
    found = np.zeros(data.shape, bool)
    seed = params.seedthr
    for k in range(params.compactsearchiters if params.compactsearch else 0):
        if k == 0:
            z = maps.significance(data)
        else:
            if seed - params.seedthrstep > params.mergethr:
                seed -= params.seedthrstep
            masked = np.where(found, np.float32(0.0), data)
            z = background_maps(masked, params, beam_pixels, origin=origin, full_shape=full_shape).significance(masked)
            z[found] = 0.0
        lowered = IslandFinder(
            seed_thr=seed, merge_thr=params.mergethr, min_pixels=params.npixmin, interpolate_peaks=params.seedpeakinterp
        )
        new = lowered.mask(z, reuse=True)
        if not new.any():
            break
        found |= new
        logger.debug("compact search iteration %d (seed %.2f): %d new pixel(s)", k + 1, seed, int(new.sum()))
    return LabelIslands.of_mask(found, params.npixmin).islands(data, maps, **common)


def extract_pixels(
    data: npt.NDArray[np.float32],
    *,
    wcs: WCS,
    beam: Beam,
    pixscale_arcsec: float,
    frequency_hz: float | None,
    params: ExtractionParams,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
    maps: BackgroundMaps | None = None,
    maps_to: MapFiles | None = None,
    core: tuple[int, int, int, int] | None = None,
) -> Table:
    """Island table of ``data`` with every stage ``params`` switches on.

    Parameters
    ----------
    data
        float32 pixels (NaN blank), the whole image or a tile read at ``origin``.
    wcs, beam, pixscale_arcsec, frequency_hz
        Of the full image.
    params
        Extraction parameters.
    origin, full_shape
        Tile placement in the full image (see :meth:`BackgroundEstimator.estimate`).
    maps
        Background and noise maps of ``data`` made elsewhere (another finder's, an earlier run's) instead
        of estimating them with ``params``; ``ValueError`` if their shape is not the data's.
    maps_to, core
        FITS maps (:class:`science.io.maps.MapFiles`) to write the background, noise, significance and
        residual of ``data[y0:y1, x0:x1]`` into, ``core = (y0, y1, x0, x1)`` (default all of ``data``: a tile
        writes its core).

    Returns
    -------
    Table
        Islands in caesar scan order named ``S1…Sn`` (without merging, extended sources follow as
        ``Sext1…``); ``components`` filled when ``params.fitsources``.
    """
    beam_px = beam.size_pixels(pixscale_arcsec)
    beam_area = beam.area_pixels(pixscale_arcsec)
    if maps is None:
        maps = background_maps(data, params, beam_px, origin=origin, full_shape=full_shape)
    elif maps.level.shape != data.shape or maps.rms.shape != data.shape:
        raise ValueError(
            f"background maps of shape {maps.level.shape} / {maps.rms.shape} do not fit the image's {data.shape}"
        )
    table, pixels = compact_islands(
        data, maps, params, beam_px, wcs=wcs, beam_area_pixels=beam_area, frequency_hz=frequency_hz,
        origin=origin, full_shape=full_shape,
    )  # fmt: skip
    if params.nestedsearch and len(table):
        params.nested_finder().find(
            table, pixels, data=data, level=maps.level, origin=origin, beam_pixels=beam_px, wcs=wcs
        )
    if params.selectsources and len(table):
        table, pixels = params.source_selection().apply(table, pixels)
    stage = params.extended_stage()
    search = None
    if stage is not None:
        if params.computeresiduals and stage.finder is not None:
            search = params.residual_map().build(data, maps, table, pixels, origin)
        table, pixels = stage.run(
            table, pixels, data=data, maps=maps, wcs=wcs, beam_pixels=beam_px, beam_area_pixels=beam_area,
            frequency_hz=frequency_hz, origin=origin, full_shape=full_shape, search=search,
        )  # fmt: skip
    if params.fitsources and len(table):
        box = None
        if params.fit_usebkgboxestimate:
            in_island = pixel_mask(pixels, data.shape, origin)
            box = BoxBackground(data, in_island, params.sourcebkgboxborder, params.bkgestimator, origin)
        params.source_fitting().fit_table(
            table,
            dict(enumerate(pixels)),
            beam=beam,
            pixscale_arcsec=pixscale_arcsec,
            wcs=wcs,
            frequency_hz=frequency_hz,
            box=box,
        )
    if params.rejectartefacts:
        flag_artefacts(
            table,
            beam_fwhm_pixels=beam_px,
            radius_beams=params.artefact_radiusbeams,
            peak_ratio=params.artefact_peakratio,
            image=(data, maps.level),
            origin=origin,
        )
    if maps_to is not None:
        y0, y1, x0, x1 = core or (0, data.shape[0], 0, data.shape[1])
        regions = _map_regions(data, maps, maps_to.kinds, slice(y0, y1), slice(x0, x1), search)
        maps_to.write(regions, origin[0] + y0, origin[1] + x0)
    return table


def _map_regions(
    data: npt.NDArray[np.float32],
    maps: BackgroundMaps,
    kinds: list[str],
    rows: slice,
    cols: slice,
    residual: npt.NDArray[np.float32] | None,
) -> dict[str, npt.NDArray[np.float32]]:
    """The ``bkg``, ``rms``, ``significance`` and ``res`` maps (caesar's names) of ``kinds`` over
    ``data[rows, cols]`` (``res`` when a residual map was made)."""
    out: dict[str, npt.NDArray[np.float32]] = {}
    if "res" in kinds and residual is not None:
        out["res"] = residual[rows, cols]
    if "bkg" in kinds:
        out["bkg"] = maps.level[rows, cols]
    if "rms" in kinds:
        out["rms"] = maps.rms[rows, cols]
    if "significance" in kinds:
        part = BackgroundMaps(maps.level[rows, cols], maps.rms[rows, cols])
        out["significance"] = part.significance(np.ascontiguousarray(data[rows, cols]))
    return out
