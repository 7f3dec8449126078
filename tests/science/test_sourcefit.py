"""Which sources are fitted and from which start (caesar FitSources / EstimateFitComponents), on a hand-made
island of three beam-sized blobs, two of them nested sources."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from astropy.wcs import WCS

from science.extract.extractor import ExtractionParams
from science.extract.fitting import GaussianFitter
from science.extract.sourcefit import SourceFitting
from science.extract.sources import empty_island_table
from science.image import Beam
from tests.science.conftest import BEAM_SIGMA, gaussian_island

BLOBS = ((1.0, 10.0, 20.0), (0.8, 20.0, 20.0), (0.6, 30.0, 20.0))  # amplitude, x, y (4 px FWHM each)


def _source() -> tuple[Any, Any]:
    params = np.concatenate([[a, x, y, *BEAM_SIGMA] for a, x, y in BLOBS])
    isl = gaussian_island(params, size=41, cut=0.02)
    table = empty_island_table(1)
    table["npix"][0] = len(isl.x)
    table["beamArea"][0] = 18.13
    table["morphId"][0] = 1
    table["rmsSum(Jy/beam)"][0] = float(isl.rms.sum())
    nested = []
    for _, bx, by in BLOBS[:2]:  # the two brightest blobs are nested sources, the third is not
        near = np.hypot(isl.x - bx, isl.y - by) <= 3
        nested.append({"morphId": 1, "npix": int(near.sum()), "beamArea": 18.13, "components": []})
        nested[-1]["pixel_xy"] = np.column_stack([isl.x[near], isl.y[near]]).astype(np.int32)
    table["nested"][0] = nested
    return table, isl


def _fit(nested_as_components: bool, **fitter: Any) -> list[dict[str, Any]]:
    table, isl = _source()
    fitting = SourceFitting(GaussianFitter(fix_unresolved=False, **fitter), nested_as_components)
    wcs = WCS(naxis=2)
    fitting.fit_table(table, {0: isl}, beam=Beam(8.0, 8.0, 0.0), pixscale_arcsec=2.0, wcs=wcs, frequency_hz=None)
    comps: list[dict[str, Any]] = table["components"][0]
    return comps


def test_a_fittable_island_starts_from_its_own_peaks_or_from_its_nested_sources() -> None:
    own = _fit(False)
    assert [round(c["x"]) for c in own] == [10, 20, 30]  # three peaks of its own
    from_nested = _fit(True)
    assert [round(c["x"]) for c in from_nested] == [10, 20]  # one start per nested source, brightest first
    assert from_nested[0]["Speak(Jy/beam)"] > from_nested[1]["Speak(Jy/beam)"]


def test_nested_sources_below_the_peak_threshold_give_no_start_and_no_fit() -> None:
    # fit-peakzthrmin 90 (rms 0.01): only the brightest nested source (peak 1.0 → Z 100) starts a component
    assert [round(c["x"]) for c in _fit(True, peak_zthr=90.0, fewer_zthr=1.0)] == [10]
    # none bright enough: caesar does not fit the island at all
    assert _fit(True, peak_zthr=200.0, fewer_zthr=1.0) == []
    assert len(_fit(False, peak_zthr=200.0, fewer_zthr=1.0)) == 1  # own path: the brightest pixel seeds one


def _one_ellipse(pa_deg: float, beam: Beam, ellipse_cuts: bool) -> dict[str, Any]:
    """One elongated Gaussian (FWHM 8 × 4 px) at position angle ``pa_deg`` (caesar's: θ − 90°), fitted."""
    theta = np.radians(pa_deg + 90.0)
    isl = gaussian_island(np.array([1.0, 20.0, 20.0, 8 / 2.3548, 4 / 2.3548, theta]), size=41, cut=0.02)
    table = empty_island_table(1)
    table["npix"][0], table["beamArea"][0], table["morphId"][0] = len(isl.x), 18.13, 1
    fitter = GaussianFitter(fix_unresolved=False, nretries=10, unbounded=frozenset({"theta"}))
    fitting = SourceFitting(fitter, ellipse_cuts=ellipse_cuts)
    fitting.fit_table(table, {0: isl}, beam=beam, pixscale_arcsec=2.0, wcs=WCS(naxis=2), frequency_hz=None)
    comp: dict[str, Any] = table["components"][0][0]
    return comp


def test_ratios_to_the_beam_are_caesars() -> None:
    beam = Beam(10.0, 6.0, 30.0)
    comp = _one_ellipse(-20.0, beam, ellipse_cuts=False)
    assert comp["pa"] == pytest.approx(-20.0, abs=0.01)
    assert comp["fitBeamEllipseRotAngle"] == pytest.approx(-50.0, abs=0.01)  # pa − bpa, not folded to 0-180
    # caesar's eccentricity is 1 − b²/a²: (1 − 1/4) / (1 − 0.36)
    assert comp["fitBeamEllipseEccentricityRatio"] == pytest.approx(0.75 / 0.64, rel=1e-3)
    assert comp["fitBeamEllipseAreaRatio"] == pytest.approx(8 * 4 * 2.0**2 / (10 * 6), rel=1e-3)  # in arcsec²


@pytest.mark.parametrize(("pa", "fake"), [(10.0, False), (-40.0, False), (60.0, True), (-50.0, True)])
def test_ellipse_cuts_mark_a_component_turned_away_from_the_beam_fake(pa: float, fake: bool) -> None:
    round_beam = Beam(8.0, 8.0, 0.0)  # eccentricity ratio 0: not cut; area ratio 0.5; |pa − 0| against 45°
    assert (_one_ellipse(pa, round_beam, ellipse_cuts=True)["sourcenessId"] == 3) is fake
    assert _one_ellipse(pa, round_beam, ellipse_cuts=False)["sourcenessId"] == 2
    assert ExtractionParams.parse({"fit-useellipsecuts": True}).source_fitting().ellipse_cuts


def test_with_an_elliptical_beam_a_round_component_fails_the_eccentricity_cut() -> None:
    # caesar: eccentricity ratio 0 / E_beam = 0, outside (0.5, 1.5); only a round beam skips the cut
    beam = Beam(10.0, 6.0, 0.0)
    isl = gaussian_island(np.array([1.0, 20.0, 20.0, 2.0, 2.0, np.pi / 2]), size=41, cut=0.02)
    table = empty_island_table(1)
    table["npix"][0], table["beamArea"][0], table["morphId"][0] = len(isl.x), 18.13, 1
    fitting = SourceFitting(GaussianFitter(fix_unresolved=False), ellipse_cuts=True)
    fitting.fit_table(table, {0: isl}, beam=beam, pixscale_arcsec=2.0, wcs=WCS(naxis=2), frequency_hz=None)
    comp = table["components"][0][0]
    assert comp["fitBeamEllipseEccentricityRatio"] == pytest.approx(0.0, abs=1e-3)
    assert abs(comp["fitBeamEllipseRotAngle"]) < 45 and 0.01 < comp["fitBeamEllipseAreaRatio"] < 10  # those pass
    assert comp["sourcenessId"] == 3
