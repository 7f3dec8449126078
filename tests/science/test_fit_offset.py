"""caesar's fitted background offset (fit-freebkg, fit-nobkglimits): the model, both solvers, the fitter's
bounds and the option's way from caesar-rest's name to the catalogue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from science.extract.extractor import ExtractionParams, SourceExtractor
from science.extract.fitting import GaussianFitter
from science.extract.gaussian import fit_one, fit_ragged, gaussian_jacobian, gaussian_model
from science.extract.islands import IslandPixels
from science.simulate import simulate_image
from tests.science.conftest import BEAM_SIGMA, gaussian_island

TRUTH = np.array([1.0, 12.3, 11.7, 2.2, 1.6, 0.4])


def _shifted(island: IslandPixels, offset: float) -> IslandPixels:
    """The island's pixels with a constant ``offset`` left over the background (rms 0.01)."""
    value = island.value + offset
    return IslandPixels(island.x, island.y, value, island.rms, value / island.rms)


def test_a_6k_plus_1_vector_ends_with_a_constant_offset() -> None:
    x, y = np.array([3.0, 12.3, 20.0]), np.array([4.0, 11.7, 2.0])
    with_offset = np.append(TRUTH, 0.25)
    np.testing.assert_allclose(gaussian_model(with_offset, x, y), gaussian_model(TRUTH, x, y) + 0.25)
    jac = gaussian_jacobian(with_offset, x, y)
    assert jac.shape == (3, 7)
    np.testing.assert_allclose(jac[:, :6], gaussian_jacobian(TRUTH, x, y))
    np.testing.assert_allclose(jac[:, 6], 1.0)
    with pytest.raises(ValueError, match="6k or 6k \\+ 1"):
        gaussian_model(np.append(with_offset, 0.1), x, y)


def test_both_solvers_recover_components_and_offset() -> None:
    isl = _shifted(gaussian_island(TRUTH, 30, 0.03), 0.05)
    p0 = np.append(TRUTH * np.array([0.8, 1, 1, 1.2, 0.9, 1]) + np.array([0, 0.6, -0.4, 0, 0, 0.1]), 0.0)
    lo, hi = p0 - np.array([0.5, 3, 3, 1, 1, 1.5, 0.2]), p0 + np.array([0.5, 3, 3, 1, 1, 1.5, 0.2])
    sizes, sigma = np.array([len(isl.x)]), np.array([0.01])
    for out in (
        fit_ragged(p0[None], lo[None], hi[None], isl.x, isl.y, isl.value, sizes, sigma),
        fit_one(p0, lo, hi, isl.x, isl.y, isl.value, 0.01),
    ):
        np.testing.assert_allclose(out.params[0], np.append(TRUTH, 0.05), atol=1e-4)
        assert out.converged[0] and not out.at_bound[0] and out.cov_ok[0]
        assert out.cov.shape == (1, 7, 7) and out.cov[0, 6, 6] > 0


def test_the_fitter_fits_the_offset_only_when_asked_and_within_caesars_bounds() -> None:
    isl = _shifted(gaussian_island(TRUTH, 30, 0.03), 0.005)  # half the island rms left over the background
    fixed = GaussianFitter(fix_unresolved=False, fewer_zthr=1.0)
    [(out, _)] = fixed.fit_islands([isl], BEAM_SIGMA)
    assert out.params.shape == (1, 6) and fixed.fitted_offset == {}
    free = GaussianFitter(fix_unresolved=False, fewer_zthr=1.0, free_bkg=True)
    [(out, i)] = free.fit_islands([isl], BEAM_SIGMA)
    assert out.params.shape == (1, 6) and out.cov.shape == (1, 6, 6)  # components only, as without
    assert free.fitted_offset[i] == pytest.approx(0.005, abs=1e-5)
    np.testing.assert_allclose(out.params[0][:3], TRUTH[:3], atol=1e-4)
    # more offset than the mean island rms: bounded at +rms (caesar's min(Smax, offset + rms)), LQ without
    # retries (fit-noimproveconvergence) ...
    far = _shifted(gaussian_island(TRUTH, 30, 0.03), 0.03)
    once = GaussianFitter(fix_unresolved=False, fewer_zthr=1.0, free_bkg=True, nretries=0)
    [(out, i)] = once.fit_islands([far], BEAM_SIGMA)
    assert once.fitted_offset[i] == pytest.approx(0.01) and once.quality(out, len(far.x)) == 1
    # ... widened by the retries as every bound on which a fit ends, then dropped: found
    [(out, i)] = free.fit_islands([far], BEAM_SIGMA)
    assert free.fitted_offset[i] == pytest.approx(0.03, abs=1e-4) and free.quality(out, len(far.x)) == 3
    # ... and free from the start with fit-nobkglimits
    unbounded = GaussianFitter(fix_unresolved=False, fewer_zthr=1.0, free_bkg=True, bkg_limits=False)
    [(out, i)] = unbounded.fit_islands([far], BEAM_SIGMA)
    assert unbounded.fitted_offset[i] == pytest.approx(0.03, abs=1e-4) and unbounded.quality(out, len(far.x)) == 3


def test_the_point_source_refit_keeps_the_offset_free() -> None:
    beam = np.array([1.0, 12.2, 11.6, BEAM_SIGMA[0], BEAM_SIGMA[1], BEAM_SIGMA[2]])
    isl = _shifted(gaussian_island(beam, 30, 0.03), 0.004)
    fitter = GaussianFitter(fewer_zthr=1.0, free_bkg=True)
    [(out, i)] = fitter.fit_islands([isl], BEAM_SIGMA)
    np.testing.assert_allclose(out.params[0][3:], BEAM_SIGMA)  # refitted as a point source
    np.testing.assert_allclose(out.params[0][:3], beam[:3], atol=1e-4)
    assert fitter.fitted_offset[i] == pytest.approx(0.004, abs=1e-5)


def test_caesar_rest_names_reach_the_fitter() -> None:
    fitter = ExtractionParams(fit_freebkg=True, fit_nobkglimits=True).gaussian_fitter()
    assert fitter.free_bkg and not fitter.bkg_limits
    default = ExtractionParams(fit_estimatedbkg=True).gaussian_fitter()
    assert not default.free_bkg and default.bkg_limits


def test_a_given_offset_is_held_or_starts_the_free_one() -> None:
    # raw pixels = Gaussian + 0.02 over a mean background of 0.015: the map-subtracted values carry 0.005
    isl = _shifted(gaussian_island(TRUTH, 30, 0.03), 0.005)
    fixer = GaussianFitter(fix_unresolved=False, fewer_zthr=1.0)
    [(out, i)] = fixer.fit_islands([isl], BEAM_SIGMA, offsets=[0.02 - 0.015])
    assert out.params.shape == (1, 6) and fixer.fitted_offset[i] == pytest.approx(0.005)
    np.testing.assert_allclose(out.params[0], TRUTH, atol=1e-4)  # the level was right: an exact fit
    # a wrong level, fixed, biases the amplitude; free, the offset moves from it to the truth
    [(out, _)] = fixer.fit_islands([isl], BEAM_SIGMA, offsets=[0.0])
    assert out.params[0][0] > TRUTH[0] + 1e-3
    free = GaussianFitter(fix_unresolved=False, fewer_zthr=1.0, free_bkg=True)
    [(out, i)] = free.fit_islands([isl], BEAM_SIGMA, offsets=[0.0])
    assert free.fitted_offset[i] == pytest.approx(0.005, abs=1e-5)
    np.testing.assert_allclose(out.params[0][:3], TRUTH[:3], atol=1e-4)
    # caesar-rest names: fit-bkg is the source fitting's level; fit-estimatedbkg overrides it
    assert ExtractionParams.parse({"fit-bkg": 0.01}).source_fitting().bkg_level == 0.01
    assert ExtractionParams.parse({"fit-bkg": 0.01, "fit-estimatedbkg": True}).source_fitting().bkg_level is None


def test_fit_bkg_reaches_an_extraction(tmp_path: Path) -> None:
    image, _ = simulate_image(shape=(256, 256), n_sources=12, seed=3)
    image.data[...] += np.float32(5e-4)  # a background the maps estimate: the fits see none left
    plain = SourceExtractor(ExtractionParams(fitsources=True)).extract(image)
    level = SourceExtractor(ExtractionParams(fitsources=True, fit_bkg=0.0)).extract(image)  # caesar's raw fit
    amp = [np.array([c["Speak(Jy/beam)"] for comps in t["components"] for c in comps]) for t in (plain, level)]
    assert len(amp[0]) == len(amp[1]) > 0
    # fixing the offset at 0 on pixels 5e-4 above it puts the background into the components (brighter,
    # and wider, as the pedestal under an island cut at the merge threshold is not a Gaussian)
    assert (amp[1] > amp[0]).all() and 2.5e-4 < float(np.median(amp[1] - amp[0])) < 1e-3
