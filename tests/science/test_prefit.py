"""caesar's pre-fit (prefit-freeampl, -freepos, -fixsigma, -fixtheta; always on in caesar, asked for here) and
the fit's iteration cap (fit-maxniters)."""

from __future__ import annotations

import numpy as np
import pytest

from planner.wire.caesar import extraction_params, unapplied_options
from science.errors import ParameterError
from science.extract.extractor import ExtractionParams
from science.extract.fitting import GaussianFitter
from science.extract.gaussian import fit_ragged
from science.extract.islands import IslandPixels
from science.extract.solving import Start, prefit
from science.extract.starts import FitLimits
from tests.science.conftest import BEAM_SIGMA, gaussian_island

#: An elongated source, its island cut at 3 % of the peak.
TRUTH = np.array([0.5, 15.2, 14.7, 3.0, 2.0, 0.3])


def _island() -> IslandPixels:
    return gaussian_island(TRUTH, 30, 0.03)


def test_held_groups_stay_at_their_start_values() -> None:
    comp = np.array([[2.0, 10.0, 11.0, 1.5, 1.2, 0.4]])
    lo, hi = FitLimits().bounds(comp, hold=frozenset({"ampl", "pos"}))
    assert list(lo[0, :3]) == list(hi[0, :3]) == [2.0, 10.0, 11.0]
    assert (hi[0, 3:] > lo[0, 3:]).all()


def test_the_prefit_moves_only_the_free_groups_and_centres_the_bounds_on_its_values() -> None:
    isl = _island()
    fitter = GaussianFitter(fix_unresolved=False)
    start = fitter.start(isl, BEAM_SIGMA)
    p0 = start.p0.copy()
    p0[0] *= 0.8  # an amplitude start off the truth: the pre-fit must hold it
    start = Start(p0, *(b[0] for b in fitter.limits.bounds(p0[None])))
    (after,) = prefit([isl], [start], frozenset({"ampl", "pos"}), fitter.limits)
    assert list(after.p0[:3]) == list(p0[:3])
    assert not np.allclose(after.p0[3:], p0[3:])  # σ and θ were fitted
    lo, hi = fitter.limits.bounds(after.p0[None])
    assert list(after.lo) == list(lo[0]) and list(after.hi) == list(hi[0])
    # with nothing held the pre-fit alone finds the source
    (free,) = prefit([isl], [start], frozenset(), fitter.limits)
    np.testing.assert_allclose(free.p0, TRUTH, atol=2e-3)


def test_a_prefitted_fit_finds_the_same_source() -> None:
    isl = _island()
    ((one, _),) = GaussianFitter(fix_unresolved=False).fit_islands([isl], BEAM_SIGMA)
    ((two, _),) = GaussianFitter(fix_unresolved=False, prefit=frozenset({"ampl", "pos"})).fit_islands([isl], BEAM_SIGMA)
    np.testing.assert_allclose(two.params[0], TRUTH, atol=1e-3)
    np.testing.assert_allclose(two.params[0], one.params[0], atol=1e-3)
    assert bool(two.converged[0]) and not bool(two.at_bound[0])


def test_fixsigma_holds_the_prefitted_sigma_as_caesar_does() -> None:
    isl = _island()
    p0 = TRUTH * np.array([1, 1, 1, 1.25, 0.8, 1])  # σ starts off the truth (given start values)
    held = GaussianFitter(fix_sigma=True, fix_unresolved=False)
    ((plain, _),) = held.fit_islands([isl], BEAM_SIGMA, given={0: p0})
    assert list(plain.params[0][3:5]) == list(p0[3:5])  # no pre-fit: σ held at the start
    pre = GaussianFitter(fix_sigma=True, fix_unresolved=False, prefit=frozenset({"ampl", "pos"}))
    ((fitted, _),) = pre.fit_islands([isl], BEAM_SIGMA, given={0: p0})
    (after,) = prefit([isl], [pre.starts([isl], BEAM_SIGMA, given={0: p0})[0]], frozenset({"ampl", "pos"}), pre.limits)
    assert list(fitted.params[0][3:5]) == list(after.p0[3:5])  # held at the pre-fitted σ
    assert np.abs(fitted.params[0][3:5] - TRUTH[3:5]).sum() < 0.2 * np.abs(p0[3:5] - TRUTH[3:5]).sum()
    # prefit-fixsigma: the pre-fit holds σ too, so fit-fixsigma keeps the start's
    both = GaussianFitter(fix_sigma=True, fix_unresolved=False, prefit=frozenset({"ampl", "pos", "sigma"}))
    ((kept, _),) = both.fit_islands([isl], BEAM_SIGMA, given={0: p0})
    assert list(kept.params[0][3:5]) == list(p0[3:5])


def test_a_fitted_offset_is_bounded_around_its_prefitted_value() -> None:
    isl = _island()
    shifted = IslandPixels(isl.x, isl.y, isl.value + 0.004, isl.rms, isl.z)
    fitter = GaussianFitter(fix_unresolved=False, free_bkg=True)
    (start,) = fitter._with_offset([fitter.start(shifted, BEAM_SIGMA)], [shifted])
    (after,) = prefit([shifted], [start], frozenset({"ampl", "pos"}), fitter.limits)
    assert after.p0.size == 7 and after.p0[-1] != 0.0
    assert (after.lo[-1], after.hi[-1]) == pytest.approx((after.p0[-1] - 0.01, after.p0[-1] + 0.01))
    unbounded = GaussianFitter(fix_unresolved=False, free_bkg=True, bkg_limits=False)
    (start,) = unbounded._with_offset([unbounded.start(shifted, BEAM_SIGMA)], [shifted])
    (after,) = prefit([shifted], [start], frozenset({"ampl", "pos"}), unbounded.limits)
    assert np.isinf(after.lo[-1]) and np.isinf(after.hi[-1])
    ((out, _),) = GaussianFitter(fix_unresolved=False, free_bkg=True, prefit=frozenset({"ampl", "pos"})).fit_islands(
        [shifted], BEAM_SIGMA
    )
    np.testing.assert_allclose(out.params[0], TRUTH, atol=2e-3)


def test_caesar_rest_prefit_options_turn_the_prefit_on() -> None:
    assert ExtractionParams().gaussian_fitter().prefit is None
    cases = [
        ({"fit_prefit": True}, {"ampl", "pos"}),
        ({"prefit-freeampl": None}, {"pos"}),
        ({"prefit-freepos": None}, {"ampl"}),
        ({"prefit-fixsigma": None, "prefit-fixtheta": None}, {"ampl", "pos", "sigma", "theta"}),
    ]
    for options, hold in cases:
        params = ExtractionParams.parse(extraction_params(options))
        assert params.gaussian_fitter().prefit == hold, options
    options = {"prefit-freeampl": None, "prefit-freepos": None, "prefit-fixsigma": None, "prefit-fixtheta": None}
    assert unapplied_options({**options, "fit-maxniters": 50}) == []


def test_maxniters_caps_the_iterations() -> None:
    isl = _island()
    p0 = TRUTH * np.array([0.6, 1, 1, 0.8, 1.3, 1]) + np.array([0, 1.5, -1.0, 0, 0, 0.4])
    lo, hi = p0 - 10.0, p0 + 10.0
    lo[3:5] = 0.3
    sizes, sigma = np.array([len(isl.x)]), np.array([0.01])
    one = fit_ragged(p0[None], lo[None], hi[None], isl.x, isl.y, isl.value, sizes, sigma, max_iter=1)
    many = fit_ragged(p0[None], lo[None], hi[None], isl.x, isl.y, isl.value, sizes, sigma)
    assert not one.converged[0] and many.converged[0]
    assert float(many.chi2[0]) < float(one.chi2[0])
    fitter = ExtractionParams.parse(extraction_params({"fit-maxniters": 2})).gaussian_fitter()
    assert fitter.max_iter == 2
    ((capped, _),) = GaussianFitter(fix_unresolved=False, max_iter=2, nretries=0).fit_islands([isl], BEAM_SIGMA)
    ((full, _),) = GaussianFitter(fix_unresolved=False, nretries=0).fit_islands([isl], BEAM_SIGMA)
    assert float(full.chi2[0]) < float(capped.chi2[0])
    with pytest.raises(ParameterError, match="max_iter"):
        GaussianFitter(max_iter=0)
    with pytest.raises(ParameterError, match="unknown parameter groups"):
        GaussianFitter(prefit=frozenset({"offset"}))
