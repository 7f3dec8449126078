"""caesar's Mean, BiWeight and ClippedMedian box estimators against plain per-box references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from science.errors import ParameterError
from science.extract.background import BackgroundEstimator
from science.extract.estimators import BkgEstimator, box_level_rms, estimator_grid
from science.extract.gridmaps import box_centres
from science.extract.params import ExtractionParams


def _clipped_reference(x: np.ndarray) -> tuple[float, float]:
    """caesar's GetClippedEstimators on one box, written out element by element."""
    x = x[np.isfinite(x)].astype(np.float64)
    median, std = float(np.median(x)), float(np.std(x, ddof=1))
    kept = x
    for _ in range(100):
        inside = kept[np.abs(kept - median) < 3.0 * std]
        if inside.size == 0:
            break
        new_median, new_std = float(np.median(inside)), float(np.std(inside, ddof=1))
        eps = abs(new_std - std) / std
        median, std, kept = new_median, new_std, inside
        if not eps > 0.1:
            break
    return median, std


def _biweight_reference(x: np.ndarray) -> tuple[float, float]:
    """caesar's GetBiWeightEstimators (C = 6, tol 1e-4, 10 iterations) from the median and 1.4826·MAD."""
    x = x[np.isfinite(x)].astype(np.float64)
    location = float(np.median(x))
    scale = 1.4826 * float(np.median(np.abs(x - location)))
    for _ in range(10):
        old = location
        u2 = ((x - location) / (6.0 * scale)) ** 2
        w = np.where(u2 <= 1, (1 - u2) ** 2, 0.0)
        if w.sum() > 0:
            location = float((w * x).sum() / w.sum())
        if abs(location / old - 1) < 1e-4:
            break
        u2 = ((x - location) / (6.0 * scale)) ** 2
        inside = u2 <= 1
        num = ((x - location) ** 2 * (1 - u2) ** 4)[inside].sum()
        den = ((1 - u2) * (1 - 5 * u2))[inside].sum()
        if den > 1:
            scale = math.sqrt(x.size * num / (den * (den - 1)))
    return location, scale


def _boxes(seed: int, with_blanks: bool) -> np.ndarray:
    """Noise boxes with a level, some with bright 'sources' (a heavy positive tail), some with blanks."""
    rng = np.random.default_rng(seed)
    boxes = (3.0 + rng.normal(0.0, 1.0, (40, 900))).astype(np.float32)
    boxes[::3, :60] += rng.exponential(20.0, (14, 60)).astype(np.float32)  # sources in every third box
    if with_blanks:
        boxes[::4, 100:400] = np.nan
        boxes[1, :] = np.nan  # an all-blank box
        boxes[2, 5:] = np.nan  # five pixels left: below min_pixels
    return boxes


@pytest.mark.parametrize("with_blanks", [False, True])
def test_clipped_median_equals_reference(with_blanks: bool) -> None:
    boxes = _boxes(1, with_blanks)
    level, rms = box_level_rms(boxes, BkgEstimator.CLIPPED_MEDIAN)
    for i, row in enumerate(boxes):
        if np.isfinite(row).sum() < 10:
            assert np.isnan(level[i]) and np.isnan(rms[i])
            continue
        expected = _clipped_reference(row)
        assert level[i] == pytest.approx(expected[0], rel=1e-6)
        assert rms[i] == pytest.approx(expected[1], rel=1e-5)


@pytest.mark.parametrize("with_blanks", [False, True])
def test_biweight_equals_reference(with_blanks: bool) -> None:
    boxes = _boxes(2, with_blanks)
    level, rms = box_level_rms(boxes, BkgEstimator.BIWEIGHT)
    for i, row in enumerate(boxes):
        if np.isfinite(row).sum() < 10:
            assert np.isnan(level[i])
            continue
        expected = _biweight_reference(row)
        assert level[i] == pytest.approx(expected[0], rel=1e-5)
        assert rms[i] == pytest.approx(expected[1], rel=1e-4)


def test_mean_and_median_equal_numpy() -> None:
    boxes = _boxes(3, True)
    ok = np.isfinite(boxes).sum(axis=1) >= 10
    level, rms = box_level_rms(boxes, BkgEstimator.MEAN)
    np.testing.assert_allclose(level[ok], np.nanmean(boxes[ok].astype(np.float64), axis=1), rtol=1e-6)
    np.testing.assert_allclose(rms[ok], np.nanstd(boxes[ok].astype(np.float64), axis=1, ddof=1), rtol=1e-5)
    level, rms = box_level_rms(boxes, BkgEstimator.MEDIAN)
    med = np.nanmedian(boxes[ok], axis=1)
    np.testing.assert_allclose(level[ok], med, rtol=1e-6)
    np.testing.assert_allclose(rms[ok], 1.4826 * np.nanmedian(np.abs(boxes[ok] - med[:, None]), axis=1), rtol=1e-5)
    assert np.isnan(level[~ok]).all()


def test_clipping_removes_the_source_tail_that_inflates_mean_and_std() -> None:
    boxes = _boxes(4, False)[::3]  # the boxes with sources
    mean_level, mean_rms = box_level_rms(boxes, BkgEstimator.MEAN)
    for estimator in (BkgEstimator.CLIPPED_MEDIAN, BkgEstimator.BIWEIGHT):
        level, rms = box_level_rms(boxes, estimator)
        assert np.all(np.abs(level - 3.0) < 0.15), estimator
        assert np.all(np.abs(rms - 1.0) < 0.15), estimator  # 7 % of the pixels are sources
    assert np.all(mean_rms > 3.0) and np.all(mean_level > 3.5)


def test_estimator_grid_boxes_are_the_image_boxes() -> None:
    rng = np.random.default_rng(5)
    data = rng.normal(0.0, 1.0, (70, 90)).astype(np.float32)
    box, step = 20, 8
    cy, cx = box_centres(70, box, step), box_centres(90, box, step)
    level, rms = estimator_grid(data, cy, cx, box, BkgEstimator.MEAN, threads=2)
    i, j = 2, 3
    patch = data[cy[i] - 10 : cy[i] + 10, cx[j] - 10 : cx[j] + 10].astype(np.float64)
    assert level[i, j] == pytest.approx(patch.mean(), rel=1e-5)
    assert rms[i, j] == pytest.approx(patch.std(ddof=1), rel=1e-5)


@pytest.mark.parametrize("estimator", list(BkgEstimator))
def test_every_estimator_recovers_level_and_noise_of_an_image(estimator: BkgEstimator) -> None:
    rng = np.random.default_rng(6)
    data = (5.0 + 2.0 * rng.normal(size=(240, 240))).astype(np.float32)
    data[100:103, 50:53] = np.nan
    maps = BackgroundEstimator(box_beams=15, estimator=estimator).estimate(data, 4.0)
    assert np.nanmedian(maps.level) == pytest.approx(5.0, abs=0.1)
    # A 3-sigma clip reads a Gaussian's sigma about 1.3 % low; the others are unbiased here.
    expected = 2.0 * (0.987 if estimator is BkgEstimator.CLIPPED_MEDIAN else 1.0)
    assert np.nanmedian(maps.rms) == pytest.approx(expected, rel=0.02)


def test_excluded_pixels_are_left_out_of_other_estimators() -> None:
    rng = np.random.default_rng(7)
    data = rng.normal(0.0, 1.0, (200, 200)).astype(np.float32)
    exclude = np.zeros(data.shape, dtype=bool)
    exclude[40:160, 40:160] = rng.random((120, 120)) < 0.3
    data[exclude] += 50.0  # what bkgskipoutliers masks: without the mask the mean and std are ruined
    estimator = BackgroundEstimator(box_beams=10, estimator="Mean")
    plain = estimator.estimate(data, 4.0)
    masked = estimator.estimate(data, 4.0, exclude=exclude)
    assert np.median(plain.rms[60:140, 60:140]) > 10
    assert np.median(masked.rms[60:140, 60:140]) == pytest.approx(1.0, rel=0.05)
    assert abs(float(np.median(masked.level[60:140, 60:140]))) < 0.1


def test_unknown_estimator_is_a_parameter_error() -> None:
    with pytest.raises(
        ParameterError,
        match=r"estimator must be one of Mean \(1\), Median \(2\), BiWeight \(3\), ClippedMedian \(4\), got 'Mode'",
    ):
        BackgroundEstimator(estimator="Mode")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ClippedMedian", "ClippedMedian"), ("biweight", "BiWeight"), (1, "Mean"), ("2", "Median"), (4, "ClippedMedian")],
)
def test_extraction_params_take_caesar_names_and_numbers(value: object, expected: str) -> None:
    params = ExtractionParams(bkgestimator=value)
    assert params.bkgestimator == expected
    assert ExtractionParams.model_validate_json(params.model_dump_json()) == params


@pytest.mark.parametrize("value", ["Mode", 0, 5, True, 2.5])
def test_extraction_params_reject_other_estimators(value: object) -> None:
    with pytest.raises(ParameterError, match="bkgestimator"):
        ExtractionParams.parse({"bkgestimator": value})
