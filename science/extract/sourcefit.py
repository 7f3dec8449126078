"""Which sources are fitted, from which start, and where their components go (caesar ``SFinder::FitSources``).

- A source *fittable as a whole* (caesar ``IsFittableSource``: POINT-LIKE, or COMPACT of at most
  ``fit-maxnbeams`` beams) is fitted on its island's pixels. With ``fit-usenestedascomponents`` and nested
  sources, its start components come from them (caesar ``SourceFitter::EstimateFitComponents``): nested
  sources brightest first whose peak above the island's mean background reaches ``fit-peakzthrmin`` times
  its mean rms, at most ``fit-maxcomponents`` of them, each giving its own start (one component from its
  pixel moments, or one per peak at the beam shape when it has several peaks), all sorted by amplitude.
- Otherwise each fittable nested source is fitted alone on its own pixels, and its components go to its
  dict (the island keeps none).
- The model's offset over the background map: none, or caesar's ``fit-bkg`` level (Jy/beam; not with
  ``fit-estimatedbkg``) minus the source's mean background, or with ``fit-usebkgboxestimate`` the
  background of a box around the source (:mod:`science.extract.boxbkg`) minus that mean, the box's rms
  then being the fit's noise; fixed, or the start of the fitted offset with ``fit-freebkg``.
- With ``fit-useellipsecuts`` a component whose ellipse compares badly with the beam's is marked FAKE
  (caesar ``SourceFitter::DoChi2Fit``): eccentricity ratio (caesar's ``1 − b²/a²`` over the beam's, when the
  beam's is not 0) outside (0.5, 1.5), area ratio outside (0.01, 10), or ``|pa − bpa|`` at least 45°
  (caesar's defaults; caesar-rest exposes only the switch).

The pixel fits themselves are :class:`science.extract.fitting.GaussianFitter`'s, batched over all sources.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from astropy.wcs import WCS

from science.extract.artefacts import FAKE
from science.extract.boxbkg import BoxBackground
from science.extract.components import ComponentGeometry, component_records, component_sky
from science.extract.fitting import GaussianFitter
from science.extract.gaussian import NPAR
from science.extract.islands import IslandPixels
from science.image import FWHM_TO_SIGMA, Beam

__all__ = ["SourceFitting"]

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: caesar's fit-ellipse cut limits (fitEllipseEccentricityRatioMin/MaxCut, …AreaRatioMin/MaxCut, …RotAngleCut).
ECCENTRICITY_RATIO, AREA_RATIO, ROT_ANGLE_DEG = (0.5, 1.5), (0.01, 10.0), 45.0


@dataclass(frozen=True)
class SourceFitting:
    """caesar's source fitting: ``fitter`` for the pixel fits, ``nested_as_components`` its
    ``fit-usenestedascomponents``, ``ellipse_cuts`` its ``fit-useellipsecuts``, ``bkg_level`` its ``fit-bkg``
    (None: the estimated background)."""

    fitter: GaussianFitter
    nested_as_components: bool = False
    ellipse_cuts: bool = False
    bkg_level: float | None = None

    def fittable(self, source: Any) -> bool:
        """caesar's ``IsFittableSource``: POINT-LIKE, or COMPACT of at most ``max_nbeams`` beams."""
        morph = int(source["morphId"])
        nbeams = float(source["npix"]) / float(source["beamArea"])
        return morph == 2 or (morph == 1 and nbeams <= self.fitter.max_nbeams)

    def fit_table(
        self,
        table: Table,
        islands: dict[int, IslandPixels],
        *,
        beam: Beam,
        pixscale_arcsec: float,
        wcs: WCS,
        frequency_hz: float | None,
        box: BoxBackground | None = None,
    ) -> None:
        """Fit the sources of ``table`` (row index → island pixels); fills ``components``, ``nComponents``,
        ``S(Jy)`` and ``Serr(Jy)`` of the islands, or of their nested sources' dicts. ``box``: the background
        around each source (``fit-usebkgboxestimate``)."""
        beam_sigma = (
            beam.bmaj_arcsec * FWHM_TO_SIGMA / pixscale_arcsec,
            beam.bmin_arcsec * FWHM_TO_SIGMA / pixscale_arcsec,
            math.radians(beam.bpa_deg + 90.0),
        )
        rows = _Rows(table)
        jobs: list[tuple[int, int]] = []  # (row, nested source index or −1 for the island itself)
        pixels: list[IslandPixels] = []
        given: dict[int, F64] = {}
        for row, isl in islands.items():
            island = rows[row]
            if self.fittable(island):
                nested = [n for n in island["nested"] if "pixel_xy" in n] if self.nested_as_components else []
                if nested:
                    start = self._nested_start(island, isl, nested, beam_sigma)
                    if start.size == 0:
                        continue  # caesar: no nested source bright enough to start from, no fit
                    given[len(pixels)] = start
                jobs.append((row, -1))
                pixels.append(isl)
                continue
            for k, source in enumerate(island["nested"]):
                if "pixel_xy" in source and self.fittable(source):
                    jobs.append((row, k))
                    pixels.append(isl.part(source["pixel_xy"]))
        offsets = self._offsets(rows, jobs, pixels, box)
        fitted = self.fitter.fit_islands(pixels, beam_sigma, given=given, offsets=offsets)
        geometry = ComponentGeometry(beam=beam, pixscale_arcsec=pixscale_arcsec, frequency_hz=frequency_hz)
        skies = component_sky([outcome for outcome, _ in fitted], wcs)
        for (outcome, i), sky in zip(fitted, skies, strict=True):
            row, k = jobs[i]
            owner = rows[row] if k < 0 else rows.read["nested"][row][k]
            records = component_records(
                outcome,
                geometry,
                quality=self.fitter.quality(outcome, len(pixels[i].x)),
                ndata=len(pixels[i].x),
                island=owner,
                sky=sky,
            )
            if records:
                ratio = self.fitter.free_axis_ratio.get(i, records[0]["bmaj"] / records[0]["bmin"])
                records[0]["free_axis_ratio"] = ratio
            if self.ellipse_cuts:
                for record in records:
                    if not _ellipse_like_beam(record):
                        record["sourcenessId"] = FAKE
            if k < 0:
                rows.store(row, records)
            else:
                _store(owner, records)
        logger.debug("fitted %d islands and nested sources of %d islands", len(fitted), len(table))

    def _offsets(
        self, rows: _Rows, jobs: list[tuple[int, int]], pixels: list[IslandPixels], box: BoxBackground | None
    ) -> list[float] | None:
        """Each job's model offset over the background map (module docstring; None: none); with ``box``,
        ``pixels`` take the box's rms in place."""
        if self.bkg_level is None and box is None:
            return None
        owners = (rows[row] if k < 0 else rows.read["nested"][row][k] for row, k in jobs)
        mean = [float(owner["bkgSum(Jy/beam)"]) / max(int(owner["npix"]), 1) for owner in owners]
        offsets = [0.0 if self.bkg_level is None else self.bkg_level - m for m in mean]
        for j, ((_, k), isl) in enumerate(zip(jobs, pixels, strict=True)):
            around = None if box is None else box.around(isl, nested=k >= 0)
            if around is None:
                continue  # caesar: no box estimate, the maps' values
            level, rms = around
            if self.bkg_level is None:
                offsets[j] = level - mean[j]
            pixels[j] = IslandPixels(isl.x, isl.y, isl.value, np.full_like(isl.rms, rms), isl.z)
        return offsets

    def _nested_start(
        self, island: Any, isl: IslandPixels, nested: list[dict[str, Any]], beam_sigma: tuple[float, float, float]
    ) -> F64:
        """Start components of an island from its nested sources (empty when none qualifies)."""
        npix = max(int(island["npix"]), 1)
        rms = float(island["rmsSum(Jy/beam)"]) / npix
        parts = [isl.part(n["pixel_xy"]) for n in nested]
        parts.sort(key=lambda part: -float(part.value.max()))
        chosen = [p for p in parts if rms > 0 and float(p.value.max()) / rms >= self.fitter.peak_zthr]
        chosen = chosen[: self.fitter.max_components]
        if not chosen:
            return np.empty(0)
        comps = np.concatenate([start.p0 for start in self.fitter.starts(chosen, beam_sigma)]).reshape(-1, NPAR)
        return comps[np.argsort(-comps[:, 0], kind="stable")].ravel()


def _ellipse_like_beam(record: dict[str, Any]) -> bool:
    """caesar's fit-ellipse cuts on a component's ratios to the beam (its default limits)."""
    round_beam = float(record["bmaj_beam(arcsec)"]) == float(record["bmin_beam(arcsec)"])  # eccentricity 0: no cut
    ecc = float(record["fitBeamEllipseEccentricityRatio"])
    good_ecc = round_beam or ECCENTRICITY_RATIO[0] < ecc < ECCENTRICITY_RATIO[1]
    good_area = AREA_RATIO[0] < float(record["fitBeamEllipseAreaRatio"]) < AREA_RATIO[1]
    return good_ecc and good_area and abs(float(record["fitBeamEllipseRotAngle"])) < ROT_ANGLE_DEG


class _Rows:
    """The island table's rows as plain dicts of the columns the fit reads, and its components written
    through the columns' arrays: astropy ``Row`` access costs microseconds a field, thousands of times."""

    READ = ("morphId", "npix", "beamArea", "bkgSum(Jy/beam)", "rmsSum(Jy/beam)", "nested")
    WRITE = ("components", "nComponents", "S(Jy)", "Serr(Jy)")

    def __init__(self, table: Table) -> None:
        self.read = {name: table[name].tolist() for name in self.READ}
        self.write = {name: table[name].data for name in self.WRITE}  # views: writes land in the table

    def __getitem__(self, row: int) -> dict[str, Any]:
        return {name: values[row] for name, values in self.read.items()}

    def store(self, row: int, records: list[dict[str, Any]]) -> None:
        """An island's components and their total flux (:func:`_store` on its row)."""
        self.write["components"][row] = records
        self.write["nComponents"][row] = len(records)
        if records:
            self.write["S(Jy)"][row] = records[0]["S_island(Jy)"]
            self.write["Serr(Jy)"][row] = records[0]["S_island_err(Jy)"]


def _store(owner: Any, records: list[dict[str, Any]]) -> None:
    """Components of a nested source (its dict)."""
    owner["components"] = records
    owner["nComponents"] = len(records)
    if records:
        owner["S(Jy)"] = records[0]["S_island(Jy)"]
        owner["Serr(Jy)"] = records[0]["S_island_err(Jy)"]
