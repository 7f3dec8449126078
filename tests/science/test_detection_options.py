"""This engine's detection options beyond caesar: seeds at interpolated peaks (``seedpeakinterp``) and box
statistics corrected for the sources in them (``bkgislandcorrection``)."""

from __future__ import annotations

import numpy as np
import pytest

from science.errors import ParameterError
from science.extract.background import BackgroundMaps
from science.extract.boxcorrect import MAX_FRACTION, bias_factors, island_corrected
from science.extract.extractor import ExtractionParams
from science.extract.gridmaps import BoxGrid
from science.extract.islands import IslandFinder
from science.extract.peaks import interpolated_peaks
from science.extract.pipeline import background_maps
from science.simulate import make_sim_wcs, simulate_image


def _gaussian(shape: tuple[int, int], x0: float, y0: float, peak: float, fwhm: tuple[float, float], theta: float):
    """An elliptical Gaussian (major, minor FWHM in pixels, major axis at ``theta`` radians from x)."""
    yy, xx = np.indices(shape, dtype=float)
    sa, sb = (f / (2 * np.sqrt(2 * np.log(2))) for f in fwhm)
    u = (xx - x0) * np.cos(theta) + (yy - y0) * np.sin(theta)
    v = -(xx - x0) * np.sin(theta) + (yy - y0) * np.cos(theta)
    return peak * np.exp(-0.5 * (u**2 / sa**2 + v**2 / sb**2))


@pytest.mark.parametrize("fwhm", [(4.0, 4.0), (6.0, 3.0), (3.0, 2.2)])
def test_interpolated_peak_is_exact_for_a_gaussian_anywhere_in_its_pixel(fwhm: tuple[float, float]) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        dx, dy = rng.uniform(-0.5, 0.5, 2)
        z = _gaussian((15, 15), 7 + dx, 7 + dy, 5.0, fwhm, rng.uniform(0, np.pi)).astype(np.float32)
        brightest = np.array([int(np.argmax(z))])
        assert z.max() < 5.0 or (dx, dy) == (0, 0)
        assert interpolated_peaks(z, brightest)[0] == pytest.approx(5.0, rel=1e-4)


def test_interpolated_peak_is_minus_infinity_off_a_maximum_at_the_border_or_by_a_non_positive_neighbour() -> None:
    z = _gaussian((9, 9), 4.2, 4.0, 5.0, (4.0, 4.0), 0.0).astype(np.float32)
    width = z.shape[1]
    off_peak = 4 * width + 3  # left of the maximum
    border = 0 * width + 4
    assert np.isneginf(interpolated_peaks(z, np.array([off_peak, border]))).all()
    hole = z.copy()
    hole[3, 3] = 0.0  # a neighbour of the maximum (4, 4) not positive
    assert np.isneginf(interpolated_peaks(hole, np.array([4 * width + 4]))[0])
    flat = np.ones((5, 5), np.float32)  # no curvature: no peak to interpolate
    assert np.isneginf(interpolated_peaks(flat, np.array([12]))[0])


def _field(peaks: float, n: int = 64, spacing: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free point sources (4 px FWHM) of one peak significance at random sub-pixel offsets; their
    brightest pixels' values."""
    rng = np.random.default_rng(1)
    side = int(np.sqrt(n))
    image = np.zeros((side * spacing, side * spacing))
    brightest = []
    for k in range(n):
        x0 = (k % side) * spacing + spacing / 2 + rng.uniform(-0.5, 0.5)
        y0 = (k // side) * spacing + spacing / 2 + rng.uniform(-0.5, 0.5)
        one = _gaussian(image.shape, x0, y0, peaks, (4.0, 4.0), 0.0)
        brightest.append(one.max())
        image += one
    return image.astype(np.float32), np.array(brightest)


def _count(data: np.ndarray, finder: IslandFinder) -> int:
    maps = BackgroundMaps(np.zeros_like(data), np.ones_like(data))
    wcs = make_sim_wcs(data.shape, 2.0, 150.0, -30.0)
    return len(finder.find(data, maps, wcs=wcs, beam_area_pixels=18.0, frequency_hz=1.4e9))


def test_interpolated_peaks_seed_the_sources_whose_brightest_pixel_misses_the_threshold() -> None:
    data, brightest = _field(5.1)
    pixel_seeds = int((brightest >= 5.0).sum())
    assert 0 < pixel_seeds < 64  # some sources sit far enough off their brightest pixel's centre to miss
    assert _count(data, IslandFinder()) == pixel_seeds
    assert _count(data, IslandFinder(interpolate_peaks=True)) == 64
    below, _ = _field(4.9)  # peaks below the threshold stay out, wherever they fall
    assert _count(below, IslandFinder(interpolate_peaks=True)) == 0


def test_interpolated_seeds_add_no_noise_islands() -> None:
    """Pure correlated noise, 1024²: a 5σ noise peak is rare with either seed rule (and the rule only
    tries local maxima: nothing else is seeded)."""
    image, _ = simulate_image(shape=(1024, 1024), n_sources=0, seed=21)
    params = ExtractionParams(seedpeakinterp=True)
    maps = background_maps(image.data, params, image.beam.size_pixels(image.pixscale_arcsec))
    z = maps.significance(image.data)
    _, pixel_seeded = ExtractionParams().island_finder().label(z)
    _, interpolated = params.island_finder().label(z)
    assert pixel_seeded.size <= interpolated.size <= pixel_seeded.size + 1
    _, low = IslandFinder(seed_thr=3.5, interpolate_peaks=True).label(z)
    _, low_pixel = IslandFinder(seed_thr=3.5).label(z)
    assert low_pixel.size < low.size < 1.5 * low_pixel.size  # some more noise peaks at 3.5σ, not a flood


def test_bias_factors_match_gaussian_noise_with_bright_pixels() -> None:
    rng = np.random.default_rng(2)
    assert bias_factors(0.0) == pytest.approx((0.0, 1.0), abs=1e-5)
    for f in (0.005, 0.02, 0.1):
        noise = rng.normal(size=400_000)
        noise[: int(f * noise.size)] = 100.0  # source pixels, all far above the noise
        median = float(np.median(noise))
        rms = 1.4826 * float(np.median(np.abs(noise - median)))
        shift, scale = bias_factors(f)
        assert median == pytest.approx(float(shift), abs=0.006)
        assert rms == pytest.approx(float(scale), rel=0.006)
    assert bias_factors(0.9) == bias_factors(MAX_FRACTION)  # capped


@pytest.mark.parametrize("settings", [{}, {"globalbkg": True}])
def test_island_correction_gives_the_maps_of_the_noise_alone(settings: dict[str, bool]) -> None:
    """200 sources on 512²: they inflate the boxes' MADs (+4 %) and medians; corrected for their islands,
    the maps are those of the same noise without the sources (within 2 %; bkgskipoutliers's second estimate
    gets there too, at the cost of a second estimate)."""
    noise, _ = simulate_image(shape=(512, 512), n_sources=0, seed=3, snr_max=300.0)
    image, _ = simulate_image(shape=(512, 512), n_sources=200, seed=3, snr_max=300.0)
    beam = image.beam.size_pixels(image.pixscale_arcsec)
    truth = background_maps(noise.data, ExtractionParams(**settings), beam)
    plain = background_maps(image.data, ExtractionParams(**settings), beam)
    fixed = background_maps(image.data, ExtractionParams(bkgislandcorrection=True, **settings), beam)
    rms = float(np.median(truth.rms))
    assert float(np.median(plain.rms)) / rms > 1.03
    assert float(np.median(fixed.rms)) / rms == pytest.approx(1.0, abs=0.02)
    offset = (float(np.median(plain.level)) - float(np.median(truth.level))) / rms
    assert offset > 0.03
    assert abs(float(np.median(fixed.level)) - float(np.median(truth.level))) / rms < offset / 2
    assert (fixed.grid is None) == bool(settings)


def test_island_correction_takes_each_boxs_fraction_of_its_finite_pixels() -> None:
    """Two 10×10 boxes side by side; the right one half blank: 10 island pixels are 10 % of the left box and
    20 % of the right one's finite pixels."""
    data = np.zeros((10, 20), np.float32)
    data[:, 15:] = np.nan
    islands = np.zeros(data.shape, bool)
    islands[0, :10] = True
    islands[5, 10:15], islands[6, 10:15] = True, True
    grid = BoxGrid(np.array([5]), np.array([5, 15]), 10, np.zeros((1, 2)), np.full((1, 2), 2.0))
    maps = BackgroundMaps(np.zeros(data.shape, np.float32), np.full(data.shape, 2.0, np.float32), grid)
    fixed = island_corrected(maps, islands, data)
    assert fixed.grid is not None
    for column, fraction in ((0, 0.1), (1, 0.2)):
        shift, scale = bias_factors(fraction)
        assert fixed.grid.rms[0, column] == pytest.approx(2.0 / scale)
        assert fixed.grid.level[0, column] == pytest.approx(-2.0 / scale * shift)
    assert fixed.rms[0, 0] == pytest.approx(2.0 / bias_factors(0.1)[1], rel=1e-6)  # interpolated into place
    assert fixed.rms is maps.rms


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"bkgskipoutliers": True}, "no bkgskipoutliers"),
        ({"bkgestimator": "ClippedMedian"}, "got ClippedMedian"),
    ],
)
def test_island_correction_needs_the_median_estimator_alone(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        ExtractionParams.parse({"bkgislandcorrection": True, **settings})


def test_options_are_off_by_default_and_take_caesar_rest_flags() -> None:
    assert not ExtractionParams().seedpeakinterp and not ExtractionParams().bkgislandcorrection
    params = ExtractionParams.parse({"--seedpeakinterp": None, "bkgislandcorrection": "true"})
    assert params.seedpeakinterp and params.bkgislandcorrection
    assert params.island_finder().interpolate_peaks
