"""caesar's source selection (selectsources): line-like islands dropped, POINT-LIKE ones tagged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from science.extract.contour import trace_boundary
from science.extract.extractor import ExtractionParams, SourceExtractor
from science.extract.selection import POINT_LIKE, SourceSelection, contour_shape, ellipse_semi_axes
from science.simulate import simulate_image


def test_contour_parameters_of_known_shapes() -> None:
    square = np.zeros((9, 9), bool)
    square[2:7, 2:7] = True  # boundary pixel centres: a 4 × 4 square
    shape = contour_shape(trace_boundary(square))
    assert shape["circularity"] == pytest.approx(math.pi / 4)
    assert (shape["bbox_min"], shape["bbox_max"], shape["elongation"]) == pytest.approx((4.0, 4.0, 0.0))
    diagonal = np.eye(12, dtype=bool) | np.eye(12, k=1, dtype=bool)  # a thin streak at 45°
    shape = contour_shape(trace_boundary(diagonal))
    assert shape["bbox_min"] == pytest.approx(math.sqrt(0.5))  # the rotated rectangle, not the axis-aligned box
    assert shape["elongation"] > 0.9
    row = np.zeros((3, 10), bool)
    row[1, 1:9] = True
    assert contour_shape(trace_boundary(row))["bbox_min"] == 0.0


def test_cuts_follow_caesar() -> None:
    select = SourceSelection()
    round_ = {"circularity": 0.8, "elongation": 0.1, "bbox_min": 6.0, "bbox_max": 7.0}
    assert select.is_good(round_) and select.is_point_like(round_, npix=40, beam_area=18.0)
    assert not select.is_point_like(round_, npix=60, beam_area=18.0)  # 3.3 beams > 3
    assert SourceSelection(nbeams_cut=False).is_point_like(round_, npix=60, beam_area=18.0)
    assert not select.is_point_like({**round_, "elongation": 0.75}, npix=40, beam_area=18.0)
    assert not select.is_point_like({**round_, "circularity": 0.3}, npix=40, beam_area=18.0)
    assert not SourceSelection(max_npix_cut=True, max_npix=30).is_point_like(round_, npix=40, beam_area=18.0)
    assert not select.is_good({**round_, "bbox_min": 1.0})
    assert SourceSelection(bounding_box_cut=False).is_good({**round_, "bbox_min": 1.0})
    nan = {"circularity": math.nan, "elongation": math.nan, "bbox_min": math.nan, "bbox_max": 0.0}
    assert select.is_good(nan) and select.is_point_like(nan, npix=5, beam_area=18.0)  # NaN fails no cut


def test_selection_drops_a_streak_and_tags_point_sources() -> None:
    image, _ = simulate_image(shape=(256, 256), n_sources=25, seed=12, n_resolved=3)
    image.data[200, 20:80] += np.float32(5e-3)  # a one-pixel-wide streak at 50 σ
    plain = SourceExtractor(ExtractionParams(extendedsearch=False)).extract(image)
    chosen = SourceExtractor(ExtractionParams(extendedsearch=False, selectsources=True)).extract(image)
    on_streak = (np.asarray(plain["ymin"]) == 200) & (np.asarray(plain["ymax"]) == 200)
    assert on_streak.sum() == 1
    assert len(chosen) == len(plain) - 1 and not np.any(np.asarray(chosen["ymax"]) - np.asarray(chosen["ymin"]) == 0)
    assert list(chosen["name"]) == [f"S{k + 1}" for k in range(len(chosen))]
    morph = np.asarray(chosen["morphId"])
    beams = np.asarray(chosen["npix"]) / np.asarray(chosen["beamArea"])
    assert np.all(morph[beams > 3] != POINT_LIKE)
    assert np.sum(morph == POINT_LIKE) >= 0.8 * np.sum(beams <= 3)  # compact and round: POINT-LIKE
    assert np.all(np.asarray(plain["morphId"]) == 1)


def test_ellipse_fit_recovers_an_ellipse_and_refuses_too_few_points() -> None:
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    points = np.column_stack([50 + 10 * np.cos(t) * c - 4 * np.sin(t) * s, 40 + 10 * np.cos(t) * s + 4 * np.sin(t) * c])
    assert ellipse_semi_axes(points) == pytest.approx((10.0, 4.0))
    assert ellipse_semi_axes(points[:5]) is None
    assert math.isnan(contour_shape(points[:5])["ellipse_area_ratio"])
    yy, xx = np.mgrid[0:21, 0:21]
    disk = contour_shape(trace_boundary((xx - 10) ** 2 + (yy - 10) ** 2 <= 64))
    assert disk["ellipse_area_ratio"] == pytest.approx(1.0, abs=0.01)


def test_ellipse_area_ratio_cut_applies_its_range() -> None:
    cross = np.array(
        [[4, 0], [6, 0], [6, 4], [10, 4], [10, 6], [6, 6], [6, 10], [4, 10], [4, 6], [0, 6], [0, 4], [4, 4]]
    )
    shape = contour_shape(cross)
    assert shape["ellipse_area_ratio"] == pytest.approx(2 / math.pi)  # area 36 over an ellipse of radius √18
    loose = SourceSelection(circ_ratio_cut=False)
    assert loose.is_point_like(shape, 36, 18.0)
    assert SourceSelection(circ_ratio_cut=False, ellipse_area_ratio_cut=True).is_point_like(shape, 36, 18.0)
    narrow = SourceSelection(circ_ratio_cut=False, ellipse_area_ratio_cut=True, ellipse_area_ratio_range=(0.7, 1.4))
    assert not narrow.is_point_like(shape, 36, 18.0)
    params = ExtractionParams.parse({"ellipsearearatiocut": True, "ellipsearearatiominthr": 0.5})
    assert params.source_selection().ellipse_area_ratio_range == (0.5, 1.4)
    assert params.source_selection().ellipse_area_ratio_cut
