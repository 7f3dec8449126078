"""IslandFinder on hand-built significance maps (level 0, rms 1 ⇒ Z = pixel value)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from science.errors import ParameterError
from science.extract.background import BackgroundMaps
from science.extract.contour import trace_boundary
from science.extract.islands import IslandFinder
from science.extract.sources import CAESAR_COLUMNS, ISLAND_COLUMNS, iau_name
from science.simulate import make_sim_wcs


def _find(data: np.ndarray, finder: IslandFinder | None = None) -> Table:
    data = data.astype(np.float32)
    maps = BackgroundMaps(np.zeros_like(data), np.ones_like(data))
    wcs = make_sim_wcs(data.shape, 2.0, 150.0, -30.0)
    return (finder or IslandFinder()).find(data, maps, wcs=wcs, beam_area_pixels=18.0, frequency_hz=1.4e9)


def test_plus_shaped_island_exact_columns() -> None:
    data = np.zeros((20, 20))
    data[5, 4:7] = [3.0, 10.0, 3.0]  # y=5, x=4..6
    data[4, 5] = 3.0
    data[6, 5] = 3.0
    table = _find(data)
    assert len(table) == 1
    row = table[0]
    assert row["name"] == "S1"
    assert row["npix"] == 5
    assert (row["x"], row["y"]) == (5.0, 5.0)
    assert (row["x_w"], row["y_w"]) == (5.0, 5.0)
    assert row["Stot(Jy/beam)"] == pytest.approx(22.0)
    assert row["Smax(Jy/beam)"] == pytest.approx(10.0)
    assert row["bkgSum(Jy/beam)"] == 0.0 and row["rmsSum(Jy/beam)"] == 5.0
    assert (row["xmin"], row["xmax"], row["ymin"], row["ymax"]) == (4, 6, 4, 6)
    assert row["flux_jy"] == pytest.approx(22.0 / 18.0)
    assert row["nu(GHz)"] == pytest.approx(1.4)
    assert (row["morphId"], row["sourcenessId"], row["isGoodSource"], row["sourceNestedLevel"]) == (1, 2, 1, 0)
    assert (row["nComponents"], row["nNestedSources"], row["S(Jy)"], row["Serr(Jy)"]) == (0, 0, 0.0, 0.0)
    assert not row["edge"]
    assert row["iauName"].startswith("J")


def test_weighted_centroid() -> None:
    data = np.zeros((10, 10))
    data[2, 2:7] = [3.0, 3.0, 3.0, 3.0, 8.0]  # x = 2..6
    row = _find(data)[0]
    assert row["x"] == pytest.approx(4.0)
    assert row["x_w"] == pytest.approx((3 * (2 + 3 + 4 + 5) + 8 * 6) / 20.0)


def test_diagonal_pixels_are_separate_islands() -> None:
    data = np.zeros((12, 12))
    data[2, 2:7] = 6.0  # island A: 5 pixels
    data[3, 7:12] = 6.0  # touches A only diagonally at (2,6)-(3,7)
    table = _find(data)
    assert list(table["npix"]) == [5, 5]


def test_island_below_min_pixels_is_dropped() -> None:
    data = np.zeros((10, 10))
    data[2, 2:6] = 6.0
    assert len(_find(data)) == 0
    assert len(_find(data, IslandFinder(min_pixels=4))) == 1


def test_island_without_seed_is_dropped_and_merge_is_inclusive() -> None:
    data = np.zeros((10, 10))
    data[2, 2:8] = 4.9
    assert len(_find(data)) == 0
    data[2, 2] = 5.0  # seed threshold inclusive
    data[2, 8] = 2.6  # merge threshold inclusive
    data[2, 9] = 2.59
    table = _find(data)
    assert len(table) == 1 and table["npix"][0] == 7


def test_negative_excess_is_not_searched() -> None:
    data = np.zeros((10, 10))
    data[2, 2:8] = -9.0
    assert len(_find(data)) == 0


def test_names_follow_caesar_scan_order_x_outer_y_inner() -> None:
    data = np.zeros((30, 30))
    data[20, 2:7] = 6.0  # first column x=2, row y=20
    data[3, 10:15] = 6.0  # x=10
    data[1, 3:8] = 6.0  # x=3, y=1
    table = _find(data)
    assert list(table["name"]) == ["S1", "S2", "S3"]
    assert list(table["scan_x"]) == [2, 3, 10]
    assert list(table["y"]) == [20.0, 1.0, 3.0]


def test_edge_flag_for_islands_touching_the_border() -> None:
    data = np.zeros((10, 10))
    data[0, 2:8] = 6.0
    assert bool(_find(data)["edge"][0])


def test_empty_result_keeps_every_column() -> None:
    table = _find(np.zeros((10, 10)))
    assert len(table) == 0
    assert table.colnames == [name for name, _ in ISLAND_COLUMNS]
    assert len(CAESAR_COLUMNS) == 33


def test_contour_traces_outer_boundary() -> None:
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    assert trace_boundary(mask).tolist() == [[1, 1], [2, 1], [3, 1], [3, 2], [3, 3], [2, 3], [1, 3], [1, 2]]


def test_iau_name_truncates() -> None:
    assert iau_name(150.0, -30.0) == "J100000.0-300000"
    assert iau_name(15.0 * (1 + 2 / 60 + 3.45 / 3600), 4 + 5 / 60 + 6.7 / 3600) == "J010203.4+040506"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed_thr": 0.0}, "seed_thr and merge_thr must be positive"),
        ({"merge_thr": 6.0}, r"merge_thr \(6.0\) must not exceed seed_thr \(5.0\)"),
        ({"min_pixels": 0}, "min_pixels must be ≥ 1, got 0"),
    ],
)
def test_invalid_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        IslandFinder(**kwargs)  # type: ignore[arg-type]


def test_mask_covers_the_kept_islands_grown_by_a_pixel() -> None:
    z = np.zeros((40, 40), np.float32)
    z[10:13, 10:13] = 3.0
    z[11, 11] = 6.0  # a seed: kept
    z[25:28, 25:28] = 3.0  # above the merge threshold but no seed: not a source
    z[0:2, 30:33] = 7.0  # a kept island on the border: growing stays inside the image
    finder = IslandFinder(seed_thr=5.0, merge_thr=2.6, min_pixels=5)
    plain = finder.mask(z)
    grown = finder.mask(z, grow=1)
    expected = np.zeros(z.shape, bool)
    expected[10:13, 10:13] = True
    expected[0:2, 30:33] = True
    np.testing.assert_array_equal(plain, expected)
    expected[9:14, 9:14] = True
    expected[0:3, 29:34] = True
    np.testing.assert_array_equal(grown, expected)
    assert z[11, 11] == 6.0  # left as it was
    assert not finder.mask(np.zeros((5, 5), np.float32), grow=1).any()


def test_bounding_boxes_are_each_islands_own_with_dropped_islands_between() -> None:
    """Labels run in scan order; a dropped island (too small, or without a seed) between two kept ones must
    not widen their boxes or contours."""
    rng = np.random.default_rng(4)
    data = np.zeros((60, 60))
    kept = []
    for k in range(6):
        y, x = 4 + 9 * k, 3 + 8 * k
        data[y : y + 3, x : x + 4] = 6.0  # kept: 12 pixels with seeds
        kept.append((x, x + 3, y, y + 2))
        data[y + 5, (x + 20) % 55] = 6.0  # dropped: one pixel
        data[y + 1, (x + 30) % 50 : (x + 30) % 50 + 6] = 3.0  # dropped: no seed
    data += rng.uniform(0, 0.1, data.shape)
    table = _find(data)
    boxes = sorted(zip(table["xmin"], table["xmax"], table["ymin"], table["ymax"], strict=True))
    assert boxes == sorted(kept)
    for row in table:
        contour = np.asarray(row["contour"]).reshape(-1, 2)
        assert contour[:, 0].min() == row["xmin"] and contour[:, 0].max() == row["xmax"]
        assert contour[:, 1].min() == row["ymin"] and contour[:, 1].max() == row["ymax"]
