"""BackgroundEstimator: box grid, recovered level and rms, global fallback, tile anchoring, errors."""

from __future__ import annotations

import numpy as np
import pytest

from science.errors import ParameterError
from science.extract.background import MAD_TO_SIGMA, BackgroundEstimator, box_centres


def test_box_centres_span_the_axis_with_boxes_flush_at_both_ends() -> None:
    np.testing.assert_array_equal(box_centres(100, 40, 8), [20, 28, 36, 44, 52, 60, 68, 76, 80])
    np.testing.assert_array_equal(box_centres(96, 40, 8), [20, 28, 36, 44, 52, 60, 68, 76])


def test_box_is_bkgbox_times_ceil_beam_pixels() -> None:
    estimator = BackgroundEstimator()
    assert estimator.box_pixels(4.0) == 80
    assert estimator.box_pixels(3.2) == 80
    assert estimator.step_pixels(80) == 16


def test_constant_plus_noise_recovers_level_and_rms() -> None:
    """Level within 0.15 σ and rms within 10 % at every pixel, median rms within 2 %.

    1600-pixel boxes: the box median scatters by ≈ 0.03 σ and the MAD-based rms by ≈ 3 %.
    """
    rng = np.random.default_rng(7)
    data = (0.5 + rng.normal(0.0, 1e-3, (300, 300))).astype(np.float32)
    maps = BackgroundEstimator(box_beams=20).estimate(data, 2.0)
    assert maps.level.dtype == np.float32 and maps.rms.dtype == np.float32
    assert np.abs(maps.level - 0.5).max() < 0.15 * 1e-3
    assert np.abs(maps.rms / 1e-3 - 1.0).max() < 0.10
    assert abs(float(np.median(maps.rms)) / 1e-3 - 1.0) < 0.02


def test_box_at_least_the_image_gives_global_median_and_mad() -> None:
    data = np.arange(100, dtype=np.float32).reshape(10, 10)
    maps = BackgroundEstimator(second_pass=False).estimate(data, 1.0)
    assert np.all(maps.level == np.float32(49.5))
    assert np.all(maps.rms == np.float32(MAD_TO_SIGMA * 25.0))


def test_blank_boxes_are_filled_from_neighbours() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 1.0, (200, 200)).astype(np.float32)
    data[:60, :60] = np.nan
    maps = BackgroundEstimator(box_beams=10).estimate(data, 4.0)
    assert np.isfinite(maps.level).all() and np.isfinite(maps.rms).all()
    assert np.abs(maps.rms - 1.0).max() < 0.15


def test_significance_is_zero_on_blank_pixels() -> None:
    data = np.ones((50, 50), np.float32)
    data[3, 4] = np.nan
    maps = BackgroundEstimator().estimate(data, 1.0)
    z = maps.significance(data)
    assert z[3, 4] == 0.0


def test_tile_maps_equal_full_maps_inside_the_tile() -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(0.0, 1.0, (256, 256)).astype(np.float32)
    estimator = BackgroundEstimator(box_beams=10)
    full = estimator.estimate(data, 4.0)
    tile = estimator.estimate(data[40:256, 0:200], 4.0, origin=(40, 0), full_shape=(256, 256))
    # Away from the cut edges (one box + two steps) the maps are identical.
    np.testing.assert_array_equal(tile.level[72:, :128], full.level[112:, :128])
    np.testing.assert_array_equal(tile.rms[72:, :128], full.rms[112:, :128])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"box_beams": 0}, "box_beams must be a positive number, got 0"),
        ({"grid": 1.5}, r"grid must be in \(0, 1\], got 1.5"),
        ({"min_pixels": 0}, "min_pixels must be ≥ 1, got 0"),
    ],
)
def test_invalid_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        BackgroundEstimator(**kwargs)  # type: ignore[arg-type]
