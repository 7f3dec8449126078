"""caesar's switches of the fit's parameter bounds (fit-no*limits, fit-fixsigma, fit-fixtheta) and of its
quality cut (fit-nochi2cut), down to the solvers' handling of unbounded and fixed parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from science.errors import ParameterError
from science.extract.extractor import ExtractionParams
from science.extract.fitting import GaussianFitter
from science.extract.gaussian import fit_one, fit_ragged, gaussian_model
from science.extract.islands import IslandPixels
from science.extract.starts import SIGMA_FLOOR, FitLimits
from tests.science.conftest import BEAM_SIGMA, gaussian_island


def _big_island(params: np.ndarray, size: int = 30, cut: float = 0.03) -> IslandPixels:
    return gaussian_island(params, size, cut)


def test_limits_free_or_fix_the_named_parameter_groups() -> None:
    comp = np.array([[2.0, 10.0, 11.0, 1.5, 1.2, 0.4]])
    lo, hi = FitLimits().bounds(comp)
    np.testing.assert_allclose(lo[0], [1.4, 7.0, 8.0, 1.05, 0.84, 0.4 - math.pi / 2])
    np.testing.assert_allclose(hi[0], [2.6, 13.0, 14.0, 1.95, 1.56, 0.4 + math.pi / 2])
    lo, hi = FitLimits(unbounded=frozenset({"ampl", "pos", "sigma", "theta"})).bounds(comp)
    assert list(lo[0]) == [-np.inf, -np.inf, -np.inf, SIGMA_FLOOR, SIGMA_FLOOR, -np.inf] and np.isinf(hi[0]).all()
    lo, hi = FitLimits(fix_sigma=True, fix_theta=True).bounds(comp)
    assert list(lo[0, 3:]) == list(hi[0, 3:]) == [1.5, 1.2, 0.4]
    assert (hi[0, :3] > lo[0, :3]).all()


def test_solvers_fit_with_unbounded_and_fixed_parameters() -> None:
    truth = np.array([1.0, 12.3, 11.7, 2.2, 1.6, 0.4])
    isl = _big_island(truth)
    p0 = truth * np.array([0.5, 1, 1, 1.4, 0.7, 1]) + np.array([0, 2.0, -1.5, 0, 0, 0.3])
    lo, hi = FitLimits(unbounded=frozenset({"ampl", "pos", "sigma", "theta"})).bounds(p0[None])
    lo, hi = lo[0], hi[0]
    sizes, sigma = np.array([len(isl.x)]), np.array([0.01])
    for out in (
        fit_ragged(p0[None], lo[None], hi[None], isl.x, isl.y, isl.value, sizes, sigma),
        fit_one(p0, lo, hi, isl.x, isl.y, isl.value, 0.01),
    ):
        # unbounded, (σx, σy, θ) may come out as (σy, σx, θ ± π/2): the same Gaussian
        np.testing.assert_allclose(gaussian_model(out.params[0], isl.x, isl.y), isl.value, atol=1e-6)
        np.testing.assert_allclose(sorted(out.params[0][3:5]), [1.6, 2.2], atol=1e-4)
        assert out.converged[0] and not out.at_bound[0] and out.cov_ok[0]
    # σ and θ held (lo == hi) away from the truth: the least-squares fallback fits the free ones only
    lo, hi = p0 - 5.0, p0 + 5.0
    lo[3:], hi[3:] = p0[3:], p0[3:]
    one = fit_one(p0, lo, hi, isl.x, isl.y, isl.value, 0.01)
    assert list(one.params[0][3:]) == list(p0[3:])
    assert one.cov_ok[0] and (np.diag(one.cov[0])[3:] == 0).all() and (np.diag(one.cov[0])[:3] > 0).all()
    assert not one.at_bound[0]


def test_fixed_sigma_and_theta_stay_at_their_start_values() -> None:
    truth = np.array([0.5, 15.0, 15.0, 3.0, 2.0, 0.3])
    isl = _big_island(truth)
    fitter = GaussianFitter(fix_sigma=True, fix_theta=True, fix_unresolved=False)
    start = fitter.start(isl, BEAM_SIGMA)
    ((outcome, _),) = fitter.fit_islands([isl], BEAM_SIGMA)
    assert list(outcome.params[0][3:]) == list(start.p0[3:])
    ((free, _),) = GaussianFitter(fix_unresolved=False).fit_islands([isl], BEAM_SIGMA)
    np.testing.assert_allclose(free.params[0][3:5], [3.0, 2.0], rtol=1e-3)


def test_the_fitter_starts_with_its_limits() -> None:
    isl = _big_island(np.array([0.5, 15.0, 15.0, 3.0, 2.0, 0.3]))
    start = GaussianFitter(unbounded=frozenset({"ampl"}), fix_theta=True).start(isl, BEAM_SIGMA)
    assert start.lo[0] == -np.inf and start.hi[0] == np.inf
    assert start.lo[5] == start.hi[5] == start.p0[5]
    assert np.isfinite(start.lo[1:5]).all() and (start.hi[1:5] > start.lo[1:5]).all()


def test_no_chi2_cut_makes_a_converged_poor_fit_high_quality() -> None:
    truth = np.array([1.0, 12.0, 12.0, *BEAM_SIGMA])
    base = _big_island(truth, size=25, cut=0.05)
    ring = IslandPixels(base.x, base.y, base.value + 0.05 * np.sin(base.x * 3), base.rms, base.z)
    strict, loose = GaussianFitter(fix_unresolved=False), GaussianFitter(fix_unresolved=False, chi2_cut=None)
    ((outcome, _),) = loose.fit_islands([ring], BEAM_SIGMA)
    assert bool(outcome.converged[0]) and not bool(outcome.at_bound[0]) and bool(outcome.cov_ok[0])
    assert strict.quality(outcome, len(ring.x)) == 2
    assert loose.quality(outcome, len(ring.x)) == 3


def test_caesar_rest_option_names_set_the_switches() -> None:
    params = ExtractionParams.parse(
        {
            "fit-noampllimits": True,
            "fit-noposlimits": True,
            "fit-nosigmalimits": True,
            "fit-nothetalimits": True,
            "fit-fixsigma": True,
            "fit-nochi2cut": True,
        }
    )
    fitter = params.gaussian_fitter()
    assert fitter.limits.unbounded == {"ampl", "pos", "sigma", "theta"}
    assert fitter.limits.fix_sigma and not fitter.limits.fix_theta
    assert fitter.chi2_cut is None
    assert ExtractionParams().gaussian_fitter().limits == FitLimits()


def test_unknown_parameter_groups_are_refused() -> None:
    with pytest.raises(ParameterError, match="unknown parameter groups"):
        GaussianFitter(unbounded=frozenset({"offset"}))


def test_the_bound_step_sets_how_far_each_retry_widens() -> None:
    from science.extract.solving import widen

    params = np.array([[0.65, 12.0, 12.0, 2.0, 1.7, 0.3]])
    lo, hi = FitLimits().bounds(np.array([[0.5, 12.0, 12.0, 1.7, 1.7, 0.3]]))  # amplitude ends on 0.65
    for step, n, top in ((0.1, 0, 0.665), (0.1, 2, 0.695), (10.0, 0, 2.15)):
        new_lo, new_hi = widen(params, lo, hi, n, step)
        # only the parameter on its bound is widened, by (1 + n)·step·0.5·|max − min|
        assert new_hi[0, 0] == pytest.approx(top) and new_lo[0, 0] == pytest.approx(max(0.35 - (top - 0.65), 0.0))
        assert list(new_lo[0, 1:]) == list(lo[0, 1:]) and list(new_hi[0, 1:]) == list(hi[0, 1:])
    # caesar's last try drops the bound (the amplitude stays >= 0)
    new_lo, new_hi = widen(params, lo, hi, None)
    assert (new_lo[0, 0], new_hi[0, 0]) == (0.0, np.inf) and list(new_hi[0, 1:]) == list(hi[0, 1:])
    assert ExtractionParams.parse({"fit-parboundincreasestep": 0.5}).gaussian_fitter().limits.step == 0.5


def test_a_fit_still_on_a_bound_after_the_retries_is_fitted_without_it() -> None:
    from science.extract.solving import Start, retry, solve

    truth = np.array([1.0, 12.0, 12.0, *BEAM_SIGMA])
    isl = _big_island(truth, size=25, cut=0.05)
    p0 = truth * np.array([0.5, 1, 1, 1, 1, 1])
    lo, hi = FitLimits().bounds(p0[None])
    start = Start(p0, lo[0], hi[0])
    first = solve([isl], p0[None], lo, hi)
    assert first.at_bound[0] and first.params[0][0] == pytest.approx(0.65)
    # one retry widens the amplitude bound to 0.665, still short of 1: the last try without it reaches 1
    once = retry(first, [start], [isl], 1, step=0.1)
    assert not once.at_bound[0] and once.params[0][0] == pytest.approx(1.0, abs=1e-4)
    assert once.converged[0] and once.cov_ok[0]
    # no retries at all with fit-noimproveconvergence (nretries 0)
    none = retry(first, [start], [isl], 0, step=0.1)
    assert none.at_bound[0] and none.params[0][0] == pytest.approx(0.65)
    assert ExtractionParams.parse({"fit-noimproveconvergence": True}).gaussian_fitter().nretries == 0


def test_a_fit_pinned_on_a_bound_converges_to_the_bounded_minimum() -> None:
    """Parameters on a bound that the descent direction pushes out of it are held for that step (a projected
    LM): the batched solver converges in a few dozen steps, to within its tolerance of the minimum scipy's
    bounded solver finds (clipped steps alone took over 30)."""
    truth = np.array([1.0, 12.0, 12.0, 2.2, 1.6, 0.4])
    isl = _big_island(truth, size=25, cut=0.05)
    p0 = truth * np.array([0.5, 1, 1, 0.8, 1.2, 1]) + np.array([0, 0.7, -0.5, 0, 0, 0.3])
    lo, hi = FitLimits().bounds(p0[None])  # the amplitude cannot pass 0.65: the fit ends on that bound
    sizes, sigma = np.array([len(isl.x)]), np.array([0.01])
    batched = fit_ragged(p0[None], lo, hi, isl.x, isl.y, isl.value, sizes, sigma, max_iter=30)
    reference = fit_one(p0, lo[0], hi[0], isl.x, isl.y, isl.value, 0.01)
    assert batched.converged[0] and batched.at_bound[0] and batched.params[0][0] == pytest.approx(0.65)
    assert float(reference.chi2[0]) * (1 - 1e-9) <= float(batched.chi2[0]) <= float(reference.chi2[0]) * 1.01


def test_retries_end_for_a_fit_held_on_a_bound_that_cannot_move(monkeypatch: pytest.MonkeyPatch) -> None:
    """A negative bump: its amplitude ends on 0, a bound no widening lowers (amplitudes stay >= 0); caesar-rest
    allows fit-nretries up to 100000, and such a fit is not refitted again and again."""
    from science.extract import solving

    negative = np.array([-1.0, 12.0, 12.0, *BEAM_SIGMA])
    isl = _big_island(np.array([1.0, 12.0, 12.0, *BEAM_SIGMA]), size=25, cut=0.05)
    isl = IslandPixels(isl.x, isl.y, gaussian_model(negative, isl.x, isl.y), isl.rms, isl.z)
    p0 = np.array([0.5, 12.0, 12.0, *BEAM_SIGMA])
    lo, hi = FitLimits().bounds(p0[None])
    first = solving.solve([isl], p0[None], lo, hi)
    calls: list[int] = []
    real_solve = solving.solve

    def counted(*args: object) -> object:
        calls.append(1)
        return real_solve(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(solving, "solve", counted)
    out = solving.retry(first, [solving.Start(p0, lo[0], hi[0])], [isl], 100_000)
    assert out.at_bound[0] and out.params[0][0] == 0.0
    assert len(calls) <= 6  # five widenings bring its lower bound to 0; then no more refits (not 100000)


def test_a_fit_held_on_the_retry_sigma_floor_still_gets_the_last_try() -> None:
    """Retries keep σ ≥ 0.3 px; a source narrower than that is held there until caesar's last try, which
    drops the bound (σ ≥ 0.01 px) and finds it."""
    from science.extract.solving import Start, retry, solve

    truth = np.array([1.0, 12.0, 12.0, 0.25, 1.2, 0.0])
    isl = gaussian_island(truth, 25, 0.0)
    p0 = np.array([1.0, 12.0, 12.0, 1.0, 1.2, 0.0])
    lo, hi = FitLimits().bounds(p0[None])
    first = solve([isl], p0[None], lo, hi)
    assert first.at_bound[0] and first.params[0][3] == pytest.approx(0.7)
    out = retry(first, [Start(p0, lo[0], hi[0])], [isl], 10)
    assert not out.at_bound[0]
    np.testing.assert_allclose(out.params[0][3:5], [0.25, 1.2], atol=1e-3)
