"""BackgroundEstimator: box grid, recovered level and rms, global fallback, tile anchoring, errors."""

from __future__ import annotations

import numpy as np
import pytest

from science.errors import ParameterError
from science.extract.background import MAD_TO_SIGMA, BackgroundEstimator
from science.extract.gridmaps import bilinear, box_centres, fill_bad, interp_axis


def test_box_centres_span_the_axis_with_boxes_flush_at_both_ends() -> None:
    np.testing.assert_array_equal(box_centres(100, 40, 8), [20, 28, 36, 44, 52, 60, 68, 76, 80])
    np.testing.assert_array_equal(box_centres(96, 40, 8), [20, 28, 36, 44, 52, 60, 68, 76])


def test_box_is_bkgbox_times_ceil_beam_pixels() -> None:
    estimator = BackgroundEstimator()
    assert estimator.box_pixels(4.0) == 80
    assert estimator.box_pixels(3.2) == 80
    assert estimator.step_pixels(80) == 16


def test_bkgboxpix_takes_the_box_in_pixels() -> None:
    from science.extract.params import ExtractionParams

    assert ExtractionParams(bkgbox=50, bkgboxpix=True).background_estimator().box_pixels(4.0) == 50
    assert ExtractionParams(bkgbox=50).background_estimator().box_pixels(4.0) == 200
    assert BackgroundEstimator(box_beams=1, box_in_pixels=True).box_pixels(4.0) == 3  # at least 3


def test_globalbkg_gives_one_level_and_rms_for_the_image() -> None:
    """A gradient the local grid follows; the global estimate is the whole image's median and MAD."""
    from science.extract.params import ExtractionParams

    rng = np.random.default_rng(3)
    data = (np.linspace(0.0, 0.02, 400)[None, :] + rng.normal(0.0, 1e-3, (300, 400))).astype(np.float32)
    local = ExtractionParams().background_estimator().estimate(data, 2.0)
    flat = ExtractionParams(globalbkg=True, bkg2ndpass=False).background_estimator().estimate(data, 2.0)
    assert float(local.level[:, -1].mean() - local.level[:, 0].mean()) > 0.015
    assert np.all(flat.level == np.float32(np.median(data)))
    mad = float(np.median(np.abs(data - np.median(data))))
    np.testing.assert_allclose(flat.rms, MAD_TO_SIGMA * mad, rtol=1e-5)
    assert float(flat.rms[0, 0]) > 4 * float(np.median(local.rms))  # the gradient is in the global spread


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


# --------------------------------------------------------------------------- brute-force reference


def _reference_grid(
    estimator: BackgroundEstimator, data: np.ndarray, cy: np.ndarray, cx: np.ndarray, box: int
) -> tuple[np.ndarray, np.ndarray]:
    """Box medians and 1.4826·MAD one box at a time with np.median (np.nanmedian on rows with blanks)."""
    half = box // 2
    finite_rows = np.isfinite(data).all(axis=1)
    level = np.full((cy.size, cx.size), np.nan)
    rms = np.full((cy.size, cx.size), np.nan)
    for i, c in enumerate(cy):
        pixels = np.stack([data[c - half : c - half + box, x - half : x - half + box].ravel() for x in cx])
        if finite_rows[c - half : c - half + box].all():
            for j in range(cx.size):
                med = np.median(pixels[j].astype(np.float64))
                mad = np.median(np.abs(pixels[j] - np.float32(med)).astype(np.float64))
                level[i, j], rms[i, j] = med, MAD_TO_SIGMA * mad
        else:  # float32 nanmedian, deviations in float64 (rows of boxes, as the estimator does)
            ok = np.isfinite(pixels).sum(axis=1) >= estimator.min_pixels
            if ok.any():
                med = np.nanmedian(pixels[ok], axis=1).astype(np.float64)
                level[i, ok] = med
                rms[i, ok] = MAD_TO_SIGMA * np.nanmedian(np.abs(pixels[ok] - med[:, None]), axis=1)
    bad = ~np.isfinite(level) | ~(rms > 0)
    return fill_bad(level, bad), fill_bad(rms, bad)


def _reference_bilinear(grid: np.ndarray, cy: np.ndarray, cx: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Separable interpolation with gathers (rows in float64 rounded to float32, then columns in float32)."""
    ky, ty = interp_axis(cy, shape[0])
    kx, tx = interp_axis(cx, shape[1])
    rows = (grid[ky] * (1.0 - ty)[:, None] + grid[np.minimum(ky + 1, cy.size - 1)] * ty[:, None]).astype(np.float32)
    left = rows[:, kx] * (1.0 - tx).astype(np.float32)
    return left + rows[:, np.minimum(kx + 1, cx.size - 1)] * tx.astype(np.float32)


def _reference_estimate(
    estimator: BackgroundEstimator,
    data: np.ndarray,
    beam: float,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    full = full_shape or data.shape
    box = estimator.box_pixels(beam)
    step, half = estimator.step_pixels(box), box // 2
    cy, cx = (box_centres(full[a], box, step) - origin[a] for a in (0, 1))
    cy = cy[(cy - half >= 0) & (cy - half + box <= data.shape[0])]
    cx = cx[(cx - half >= 0) & (cx - half + box <= data.shape[1])]
    level_grid, rms_grid = _reference_grid(estimator, data, cy, cx, box)
    level = _reference_bilinear(level_grid, cy, cx, data.shape)
    if estimator.second_pass:
        _, rms_grid = _reference_grid(estimator, (data - level).astype(np.float32), cy, cx, box)
    return level, _reference_bilinear(rms_grid, cy, cx, data.shape)


def _test_image(seed: int, shape: tuple[int, int], kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(0.2, 1.0, shape) + np.linspace(0.0, 3.0, shape[1])[None, :]
    ys, xs = rng.integers(0, shape[0], 15), rng.integers(0, shape[1], 15)
    data[ys, xs] += rng.lognormal(2.0, 1.0, 15)  # bright pixels
    if kind == "ties":
        data = np.round(data * 4.0) / 4.0
    elif kind == "nan-block":
        data[shape[0] // 3 : shape[0] // 3 + 25, : shape[1] // 2] = np.nan
    elif kind == "nan-pixels":
        data[rng.integers(0, shape[0], 3), rng.integers(0, shape[1], 3)] = np.nan
    return data.astype(np.float32)


CASES = [
    # (shape, box_beams, beam px, grid, second_pass, min_pixels, kind): box and step from the estimator
    ((203, 251), 10.0, 4.0, 0.2, True, 10, "noise"),  # box 40, step 8, last row and column of boxes flush
    ((160, 176), 10.0, 4.0, 0.2, False, 10, "ties"),
    ((203, 190), 10.0, 4.0, 0.2, True, 10, "nan-block"),
    ((199, 207), 10.0, 4.0, 0.2, True, 500, "nan-block"),
    ((150, 161), 10.0, 4.0, 0.2, True, 10, "nan-pixels"),
    ((131, 140), 7.0, 3.0, 1 / 3, True, 10, "noise"),  # box 21 (odd pixel count), step 7
    ((131, 140), 7.0, 3.0, 1 / 3, False, 10, "ties"),
    ((120, 97), 9.0, 1.0, 1 / 3, True, 10, "noise"),  # box 9, step 3
    ((140, 150), 10.0, 3.0, 0.25, True, 10, "noise"),  # box 30 not a multiple of step 8: partitions only
]


@pytest.mark.parametrize(("shape", "box_beams", "beam", "grid", "second_pass", "min_pixels", "kind"), CASES)
def test_estimate_equals_brute_force_reference(
    shape: tuple[int, int], box_beams: float, beam: float, grid: float, second_pass: bool, min_pixels: int, kind: str
) -> None:
    data = _test_image(len(kind) + shape[0], shape, kind)
    estimator = BackgroundEstimator(box_beams=box_beams, grid=grid, second_pass=second_pass, min_pixels=min_pixels)
    maps = estimator.estimate(data, beam)
    level, rms = _reference_estimate(estimator, data, beam)
    np.testing.assert_array_equal(maps.level, level)
    np.testing.assert_array_equal(maps.rms, rms)


@pytest.mark.parametrize(("origin", "tile"), [((40, 0), (216, 200)), ((13, 29), (150, 170)), ((7, 3), (60, 200))])
def test_tile_estimate_equals_brute_force_reference(origin: tuple[int, int], tile: tuple[int, int]) -> None:
    data = _test_image(9, (256, 256), "noise")
    data[100:110, 150:160] = np.nan
    part = data[origin[0] : origin[0] + tile[0], origin[1] : origin[1] + tile[1]]
    estimator = BackgroundEstimator(box_beams=10)
    maps = estimator.estimate(part, 4.0, origin=origin, full_shape=data.shape)
    level, rms = _reference_estimate(estimator, part, 4.0, origin, data.shape)
    np.testing.assert_array_equal(maps.level, level)
    np.testing.assert_array_equal(maps.rms, rms)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize(
    ("n", "box", "step", "offset"), [(300, 40, 8, 0), (203, 40, 8, 5), (150, 21, 7, 2), (90, 9, 9, 0)]
)
def test_bilinear_equals_gather_reference(n: int, box: int, step: int, offset: int, threads: int) -> None:
    shape = (n + 7, n)
    cy = box_centres(shape[0] + offset, box, step) - offset
    cy = cy[cy - box // 2 >= 0]
    cx = box_centres(shape[1], box, step)
    grid = np.random.default_rng(n).normal(size=(cy.size, cx.size))
    expected = _reference_bilinear(grid, cy, cx, shape)
    np.testing.assert_array_equal(bilinear(grid, cy, cx, shape, threads), expected)


# Bright blocks on even rows and columns with even sides: every box (corners on multiples of 8) cuts them
# into even-sided pieces, on which the checkerboard and 2x2 fill patterns are exactly balanced.
SOURCES = [(20, 30, 12, 16), (96, 150, 20, 10), (150, 60, 8, 8), (0, 200, 10, 48)]


@pytest.mark.parametrize("second_pass", [True, False])
def test_excluded_pixels_are_left_out_of_every_box(second_pass: bool) -> None:
    data = _test_image(3, (200, 248), "noise")
    exclude = np.zeros(data.shape, bool)
    for y, x, h, w in SOURCES:
        exclude[y : y + h, x : x + w] = True
        data[y : y + h, x : x + w] += 50.0
    estimator = BackgroundEstimator(box_beams=10, second_pass=second_pass)
    maps = estimator.estimate(data, 4.0, exclude=exclude)
    # the reference: the same boxes with the excluded pixels blank
    level, rms = _reference_estimate(estimator, np.where(exclude, np.float32(np.nan), data), 4.0)
    np.testing.assert_allclose(maps.level, level, rtol=1e-6, atol=1e-6)
    # the MAD fill is centred on the interpolated level: exact for residuals, close for raw pixels on a slope
    np.testing.assert_allclose(maps.rms, rms, rtol=1e-5 if second_pass else 0.02)
    plain = estimator.estimate(data, 4.0)
    assert (plain.rms / rms).max() > 1.05  # the sources inflate the rms unless they are left out


def test_boxes_mostly_excluded_are_filled_from_neighbours() -> None:
    rng = np.random.default_rng(5)
    data = rng.normal(0.0, 1.0, (200, 200)).astype(np.float32)
    exclude = np.zeros(data.shape, bool)
    exclude[:70, :70] = True
    data[:70, :70] = 1e6
    maps = BackgroundEstimator(box_beams=10).estimate(data, 4.0, exclude=exclude)
    assert np.isfinite(maps.level).all() and np.isfinite(maps.rms).all()
    assert np.abs(maps.level).max() < 0.5 and np.abs(maps.rms - 1.0).max() < 0.2


def test_excluded_pixels_leave_the_global_estimate() -> None:
    data = np.arange(100, dtype=np.float32).reshape(10, 10)
    exclude = data >= 50
    maps = BackgroundEstimator(second_pass=False).estimate(data, 1.0, exclude=exclude)
    assert np.all(maps.level == np.float32(24.5))
    assert np.all(maps.rms == np.float32(MAD_TO_SIGMA * 12.5))
