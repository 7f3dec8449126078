"""2-D Gaussian fitting and deblending: exact answers on noiseless islands, flux on simulations, quality flags."""

from __future__ import annotations

import numpy as np
import pytest

from science.errors import ParameterError
from science.extract.extractor import ExtractionParams, SourceExtractor
from science.extract.fitting import GaussianFitter
from science.extract.gaussian import fit_one, fit_ragged, gaussian_jacobian, gaussian_model
from science.extract.islands import IslandPixels
from science.match import match_to_truth
from science.simulate import simulate_image
from tests.science.conftest import BEAM_SIGMA, gaussian_island


def test_jacobian_matches_finite_differences() -> None:
    p = np.array([2.0, 5.0, 6.0, 1.5, 2.5, 0.7, 1.0, 3.0, 4.0, 2.0, 1.0, -0.3])
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 10, 50), rng.uniform(0, 10, 50)
    numeric = np.stack(
        [(gaussian_model(p + h, x, y) - gaussian_model(p - h, x, y)) / 2e-6 for h in np.eye(12) * 1e-6], axis=-1
    )
    np.testing.assert_allclose(gaussian_jacobian(p, x, y), numeric, atol=1e-7)


def test_batch_and_least_squares_recover_a_noiseless_gaussian() -> None:
    truth = np.array([1.0, 12.3, 11.7, 2.2, 1.6, 0.4])
    isl = gaussian_island(truth)
    p0 = truth * np.array([0.9, 1, 1, 1.1, 0.9, 1]) + np.array([0, 0.4, -0.3, 0, 0, 0.2])
    lo, hi = p0 - np.array([0.3, 3, 3, 0.6, 0.5, 1.5]), p0 + np.array([0.3, 3, 3, 0.6, 0.5, 1.5])
    batch = fit_ragged(p0[None], lo[None], hi[None], isl.x, isl.y, isl.value, np.array([len(isl.x)]), np.array([0.01]))
    one = fit_one(p0, lo, hi, isl.x, isl.y, isl.value, 0.01)
    for out in (batch, one):
        np.testing.assert_allclose(out.params[0], truth, atol=1e-4)
        assert out.converged[0] and not out.at_bound[0] and out.cov_ok[0]


def test_two_blended_peaks_are_deblended_into_two_components() -> None:
    truth = np.array([1.0, 10.0, 12.0, *BEAM_SIGMA, 0.5, 17.0, 12.5, *BEAM_SIGMA])
    isl = gaussian_island(truth, size=30)
    fitter = GaussianFitter()
    assert len(fitter.peaks(isl)) == 2
    ((outcome, _),) = fitter.fit_islands([isl], BEAM_SIGMA)
    comps = outcome.params[0].reshape(2, 6)
    comps = comps[np.argsort(-comps[:, 0])]
    np.testing.assert_allclose(comps[:, :3], [[1.0, 10.0, 12.0], [0.5, 17.0, 12.5]], atol=2e-3)
    assert fitter.quality(outcome, len(isl.x)) == 3


def test_max_components_caps_the_deblending() -> None:
    truth = np.concatenate([[1.0 - 0.1 * k, 6.0 + 8 * k, 10.0, *BEAM_SIGMA] for k in range(4)])
    isl = gaussian_island(truth, size=40, cut=0.02)
    assert len(GaussianFitter(max_components=3).peaks(isl)) == 3
    assert len(GaussianFitter(max_components=1).peaks(isl)) == 1


def test_fit_quality_flags() -> None:
    truth = np.array([1.0, 12.0, 12.0, *BEAM_SIGMA])
    isl = gaussian_island(truth)
    fitter = GaussianFitter()
    ((good, _),) = fitter.fit_islands([isl], BEAM_SIGMA)
    assert fitter.quality(good, len(isl.x)) == 3
    noisy = IslandPixels(isl.x, isl.y, isl.value + 0.2 * np.sin(isl.x * 3), isl.rms, isl.z)
    ((bad_chi2, _),) = fitter.fit_islands([noisy], BEAM_SIGMA)
    assert fitter.quality(bad_chi2, len(isl.x)) in (1, 2)


def test_resolved_source_keeps_its_size_and_flux() -> None:
    truth = np.array([0.5, 15.0, 15.0, 3.0, 2.0, 0.3])
    isl = gaussian_island(truth, size=30, cut=0.03)
    ((outcome, _),) = GaussianFitter().fit_islands([isl], BEAM_SIGMA)
    np.testing.assert_allclose(outcome.params[0][3:5], [3.0, 2.0], rtol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_components": 0}, "max_components ≥ 1"), ({"ampl_limit": 0}, "must be positive")],
)
def test_invalid_fitter_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        GaussianFitter(**kwargs)  # type: ignore[arg-type]


def test_integrated_flux_ratio_is_one_within_two_percent_on_a_simulation() -> None:
    image, truth = simulate_image(shape=(1024, 1024), n_sources=400, seed=3, min_separation_beams=3.0)
    table = SourceExtractor(ExtractionParams(fitsources=True)).extract(image)
    comps = [c for row in table for c in row["components"]]
    assert all(row["nComponents"] == len(row["components"]) for row in table)
    det = {"x": np.array([c["x"] for c in comps]), "y": np.array([c["y"] for c in comps])}
    from astropy.table import Table

    result = match_to_truth(Table(det), truth, radius_pix=2.0, snr_min=10.0)
    bright = truth["snr"][result.truth_index] > 10
    flux = np.array([comps[i]["S(Jy)"] for i in result.detected_index])[bright]
    ratio = flux / truth["flux_jy"][result.truth_index][bright]
    assert bright.sum() > 100
    assert abs(float(np.median(ratio)) - 1.0) < 0.02
    assert abs(float(np.mean(ratio)) - 1.0) < 0.02
    # island S(Jy) is the sum of its components
    for row in table:
        if row["nComponents"]:
            assert row["S(Jy)"] == pytest.approx(sum(c["S(Jy)"] for c in row["components"]))


def test_caesar_option_names_are_accepted() -> None:
    params = ExtractionParams.parse({"fitsources": True, "fit-maxcomponents": 2, "--fit-noretry": None})
    assert params.fitsources and params.fit_maxcomponents == 2 and params.fit_noretry
    assert not params.gaussian_fitter().fewer_retry and params.gaussian_fitter().nretries == 10
    assert not ExtractionParams.parse({"no-fit-fixunresolved": True}).fit_fixunresolved
    peaks = ExtractionParams.parse({"fit-peakminkern": 5, "fit-peakmaxkern": 9, "fit-peakmultiplicitythr": -1})
    fitter = peaks.gaussian_fitter()
    assert (fitter.peak_kernels, fitter.peak_multiplicity, fitter.peak_shift_tol) == ((5, 7, 9), -1, 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fit-peakminkern": 4}, "must be odd"),
        ({"fit-peakminkern": 9, "fit-peakmaxkern": 7}, "the first not above the second"),
        ({"fit-peakmultiplicitythr": 0}, "-1 \\(every kernel\\) or at least 1"),
        ({"fit-peakshifttol": -1}, "fit_peakshifttol"),
    ],
)
def test_bad_deblending_peak_options_are_parameter_errors(options: dict[str, int], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        ExtractionParams.parse(options)


def test_ragged_batch_fits_each_island_as_if_alone() -> None:
    """Islands of different sizes and component counts in one ragged batch follow their own trajectories."""
    rng = np.random.default_rng(3)
    islands, starts = [], []
    for size in (9, 25, 41):
        truth = np.array([1.0, size / 2 + 0.3, size / 2 - 0.2, 1.8, 1.3, 0.5])
        isl = gaussian_island(truth, size=size, cut=0.1)
        noisy = isl.value + rng.normal(0, 0.01, isl.value.size)
        islands.append((isl.x, isl.y, noisy))
        p0 = truth * np.array([0.8, 1, 1, 1.2, 0.9, 1]) + np.array([0, 0.5, -0.4, 0, 0, 0.3])
        starts.append((p0, p0 - np.array([0.3, 3, 3, 0.6, 0.5, 1.5]), p0 + np.array([0.3, 3, 3, 0.6, 0.5, 1.5])))
    # the last island keeps its shape fixed (as the point-source refit does)
    p0, lo, hi = starts[-1]
    starts[-1] = (p0, np.where(np.arange(6) >= 3, p0, lo), np.where(np.arange(6) >= 3, p0, hi))
    sizes = np.array([len(x) for x, _, _ in islands])
    sigma = np.full(3, 0.01)
    together = fit_ragged(
        np.stack([s[0] for s in starts]),
        np.stack([s[1] for s in starts]),
        np.stack([s[2] for s in starts]),
        np.concatenate([i[0] for i in islands]),
        np.concatenate([i[1] for i in islands]),
        np.concatenate([i[2] for i in islands]),
        sizes,
        sigma,
    )
    for g, ((x, y, v), (p0, lo, hi)) in enumerate(zip(islands, starts, strict=True)):
        alone = fit_ragged(p0[None], lo[None], hi[None], x, y, v, np.array([len(x)]), sigma[:1])
        np.testing.assert_allclose(together.params[g], alone.params[0], rtol=1e-10, atol=1e-12)
        assert together.converged[g] and alone.converged[0]
        assert together.chi2[g] == pytest.approx(alone.chi2[0], rel=1e-10)
    np.testing.assert_array_equal(together.params[-1][3:], starts[-1][0][3:])  # fixed stays fixed
    assert np.all(np.diag(together.cov[-1])[3:] == 0.0) and together.cov_ok[-1]
    with pytest.raises(ValueError, match="at least one pixel"):
        fit_ragged(p0[None], lo[None], hi[None], np.empty(0), np.empty(0), np.empty(0), np.array([0]), sigma[:1])


def _with_bump(amp: float) -> IslandPixels:
    """A bright beam-shaped source and, 10 px away, a bump narrower than the beam (noise-like)."""
    yy, xx = np.mgrid[0:40, 0:40].astype(float)
    main = [1.0, 15.0, 15.0, BEAM_SIGMA[0], BEAM_SIGMA[1], 0.0]
    value = gaussian_model(np.array([*main, amp, 25.0, 15.0, 0.6, 0.6, 0.0]), xx.ravel(), yy.ravel())
    keep = value >= 1e-4
    rms = np.full(int(keep.sum()), 1e-3)
    return IslandPixels(xx.ravel()[keep], yy.ravel()[keep], value[keep], rms, value[keep] / 1e-3)


def test_a_faint_deblended_component_stuck_on_a_bound_is_dropped_as_caesar_does() -> None:
    """caesar refits with one component fewer when a deblended fit stays on a bound; here only when the
    faintest component is below the detection threshold (fewer_zthr σ). Without retries
    (fit-noimproveconvergence) a bump narrower than the beam stays on the σ bound, ~2 σ; the retries widen that
    bound and drop it at the last try, and the bump is fitted as it is."""
    narrow = _with_bump(0.006)  # a 6 σ pixel, narrower than the beam
    assert len(GaussianFitter().peaks(narrow)) == 2
    [(kept, _)] = GaussianFitter(fewer_zthr=0.0, nretries=0, fix_unresolved=False).fit_islands([narrow], BEAM_SIGMA)
    assert kept.params.shape == (1, 12) and kept.at_bound[0]
    assert kept.params[0][6] < 0.005
    [(fewer, _)] = GaussianFitter(fewer_zthr=5.0, nretries=0, fix_unresolved=False).fit_islands([narrow], BEAM_SIGMA)
    assert fewer.params.shape == (1, 6) and fewer.converged[0] and not fewer.at_bound[0]
    np.testing.assert_allclose(fewer.params[0][:3], [1.0, 15.0, 15.0], atol=0.02)
    [(freed, _)] = GaussianFitter(fewer_zthr=5.0, fix_unresolved=False).fit_islands([narrow], BEAM_SIGMA)
    assert freed.params.shape == (1, 12) and not freed.at_bound[0]
    np.testing.assert_allclose(freed.params[0][6:11], [0.006, 25.0, 15.0, 0.6, 0.6], atol=1e-3)
    # a bright secondary (20 σ) keeps its component even on a bound
    bright = GaussianFitter(fewer_zthr=5.0, nretries=0, fix_unresolved=False).fit_islands(
        [_with_bump(0.02)], BEAM_SIGMA
    )
    assert bright[0][0].params.shape == (1, 12)
    # fit-noretry turns the fallback off, as in caesar
    plain = GaussianFitter(fewer_zthr=5.0, fewer_retry=False, nretries=0, fix_unresolved=False)
    [(noretry, _)] = plain.fit_islands([narrow], BEAM_SIGMA)
    assert noretry.params.shape == (1, 12) and noretry.at_bound[0]
    fitter = ExtractionParams.parse({"fit-noretry": True, "fit-noimproveconvergence": True}).gaussian_fitter()
    assert (fitter.fewer_retry, fitter.nretries) == (False, 0)
    fitter = ExtractionParams.parse({"fit-noretry": True}).gaussian_fitter()
    assert (fitter.fewer_retry, fitter.nretries) == (False, 10)


def test_peaks_below_the_seed_threshold_seed_no_component() -> None:
    """A 3.5 σ bump beside a source is a 3×3 peak above caesar's 1 σ, but its component would be below the
    seed threshold (a component is a detection only at it): it seeds nothing; a 7 σ neighbour does."""
    yy, xx = np.mgrid[0:40, 0:40].astype(float)

    def island(amp: float) -> IslandPixels:
        params = np.array([1.0, 15.0, 15.0, *BEAM_SIGMA[:2], 0.0, amp, 25.0, 15.0, *BEAM_SIGMA[:2], 0.0])
        value = gaussian_model(params, xx.ravel(), yy.ravel())
        keep = value >= 2.6e-3
        rms = np.full(int(keep.sum()), 1e-3)
        return IslandPixels(xx.ravel()[keep], yy.ravel()[keep], value[keep], rms, value[keep] / 1e-3)

    faint, real = island(0.0035), island(0.007)
    assert len(GaussianFitter(fewer_zthr=0.0).peaks(faint)) == 2
    assert len(GaussianFitter().peaks(faint)) == 1
    [(one, _)] = GaussianFitter(fix_unresolved=False).fit_islands([faint], BEAM_SIGMA)
    assert one.params.shape == (1, 6)
    [(two, _)] = GaussianFitter(fix_unresolved=False).fit_islands([real], BEAM_SIGMA)
    assert two.params.shape == (1, 12)
    np.testing.assert_allclose(sorted(two.params[0][0::6]), [0.007, 1.0], rtol=1e-3)
