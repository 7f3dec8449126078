"""caesar's compact-source residual map (computeresiduals) and the extended search on it."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from science.errors import ParameterError
from science.extract.background import BackgroundMaps
from science.extract.extractor import ExtractionParams
from science.extract.gaussian import gaussian_model
from science.extract.islands import IslandPixels
from science.extract.residual import ResidualMap, ellipse_kernel
from tests.science.test_extended import BLOB, _extract, _field

#: OpenCV getStructuringElement(MORPH_ELLIPSE, (9, 9)).
OPENCV_ELLIPSE_9 = """
000010000
011111110
011111110
111111111
111111111
111111111
011111110
011111110
000010000
"""


def test_kernel_is_opencvs_ellipse() -> None:
    expected = np.array([[c == "1" for c in row] for row in OPENCV_ELLIPSE_9.split()])
    np.testing.assert_array_equal(ellipse_kernel(9), expected)
    np.testing.assert_array_equal(ellipse_kernel(8), expected)  # made odd, as caesar does
    np.testing.assert_array_equal(ellipse_kernel(3), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool))


def test_which_sources_are_removed() -> None:
    table = Table({"zmax": [50.0, 7.0, 7.0, 4.0, 7.0], "morphId": [1, 1, 2, 2, 3]})
    assert list(ResidualMap().removed(table)) == [True, False, True, False, False]  # bright, or POINT-LIKE
    assert list(ResidualMap(source_type="ALL").removed(table)) == [True, True, True, False, True]
    assert list(ResidualMap(source_type="COMPACT").removed(table)) == [True, True, False, False, False]  # id equal
    assert list(ResidualMap(source_type="EXTENDED").removed(table)) == [True, False, False, False, True]
    assert list(ResidualMap(zhighthr=60.0).removed(table)) == [False, False, True, False, False]


def test_with_remove_nested_a_mother_below_the_bright_threshold_loses_only_its_nested_sources() -> None:
    data = np.full((60, 60), 1.0, np.float32)
    maps = BackgroundMaps(np.full(data.shape, 0.5, np.float32), np.ones(data.shape, np.float32))
    ys, xs = np.mgrid[10:40, 10:40]
    mother = IslandPixels(xs.ravel().astype(float), ys.ravel().astype(float), *np.zeros((3, xs.size)))
    inner = np.column_stack([xs[12:15, 12:15].ravel(), ys[12:15, 12:15].ravel()])  # pixels 22-24
    nested = [{"morphId": 2, "pixel_xy": inner}, {"morphId": 1, "pixel_xy": inner + 10}]
    table = Table({"zmax": [7.0], "morphId": [2]})
    table["nested"] = np.empty(1, dtype=object)
    table["nested"][0] = nested
    # without the option the POINT-LIKE mother goes whole; with it, only its POINT-LIKE nested source
    assert list(ResidualMap().removed(table)) == [True]
    keep = ResidualMap(remove_nested=True)
    assert list(keep.removed(table)) == [False] and keep.removed_nested(table) == [(0, 0)]
    assert ResidualMap(remove_nested=True, source_type="ALL").removed_nested(table) == [(0, 0), (0, 1)]
    residual = keep.build(data, maps, table, [mother])
    assert np.all(residual[22:25, 22:25] == 0.5) and residual[23, 23 + 5] == 0.5  # nested, dilated
    assert residual[12, 12] == 1.0 and residual[33, 33] == 1.0  # the mother's other pixels and nested N2
    # a bright mother is removed whole all the same
    table["zmax"][0] = 50.0
    assert list(keep.removed(table)) == [True] and keep.removed_nested(table) == []
    assert ExtractionParams.parse({"res-removenested": True}).residual_map().remove_nested


def _square(y0: int, y1: int, x0: int, x1: int) -> IslandPixels:
    ys, xs = np.mgrid[y0:y1, x0:x1]
    return IslandPixels(xs.ravel().astype(float), ys.ravel().astype(float), *np.zeros((3, xs.size)))


def test_with_bkg_around_source_a_removed_source_takes_the_median_of_its_box_outside_every_source() -> None:
    data = np.full((60, 60), 2.0, np.float32)
    data[:, 30:] = 4.0
    data[20:23, 26:29] = 9.0  # source A, removed
    maps = BackgroundMaps(np.full(data.shape, 0.5, np.float32), np.ones(data.shape, np.float32))
    islands = [_square(20, 23, 26, 29), _square(15, 28, 21, 26)]  # B: faint, kept, inside A's box
    table = Table({"zmax": [20.0, 3.0], "morphId": [1, 1]})
    # A's box (border 5): rows 15-27, columns 21-33; without A's and B's pixels, 43 at 2.0 and 52 at 4.0
    residual = ResidualMap(bkg_around_source=True, box_border=5, kernel_size=3).build(data, maps, table, islands)
    assert np.all(residual[20:23, 26:29] == 4.0) and residual[19, 27] == 4.0  # dilated by the 3 px cross
    assert residual[19, 25] == 2.0 and residual[40, 40] == 4.0  # beyond the cross at the corner, and far away
    without_b = ResidualMap(bkg_around_source=True, box_border=5, kernel_size=3).build(
        data, maps, table[:1], islands[:1]
    )
    assert np.all(without_b[20:23, 26:29] == 2.0)  # B's pixels counted: 108 at 2.0, 52 at 4.0
    # a box with no pixel outside the sources leaves the source as it is (caesar skips it)
    full = ResidualMap(bkg_around_source=True, box_border=1).build(data, maps, table[:1], [_square(0, 60, 0, 60)])
    np.testing.assert_array_equal(full, data)
    params = ExtractionParams.parse({"res-bkgaroundsource": True, "sourcebkgboxborder": 7}).residual_map()
    assert params.bkg_around_source and params.box_border == 7


def test_removed_sources_become_the_background_dilated() -> None:
    data = np.full((40, 40), 1.0, np.float32)
    data[18:21, 18:21] = 9.0  # a bright 3 × 3 island
    maps = BackgroundMaps(np.full(data.shape, 0.5, np.float32), np.ones(data.shape, np.float32))
    ys, xs = np.mgrid[18:21, 18:21]
    island = IslandPixels(xs.ravel().astype(float), ys.ravel().astype(float), np.zeros(9), np.ones(9), np.zeros(9))
    table = Table({"zmax": [20.0], "morphId": [1]})
    residual = ResidualMap().build(data, maps, table, [island])
    assert np.all(residual[18:21, 18:21] == 0.5)
    assert residual[19, 19 + 5] == 0.5 and residual[19, 20 + 5] == 1.0  # 4 px beyond the island edge
    assert residual[18 - 4, 18 - 4] == 1.0  # the kernel's corners are outside the ellipse
    assert np.all(data[18:21, 18:21] == 9.0)  # a copy
    faint = Table({"zmax": [3.0], "morphId": [1]})
    np.testing.assert_array_equal(ResidualMap().build(data, maps, faint, [island]), data)


def test_extended_search_runs_on_the_residual() -> None:
    image = _field(0, blob=True)
    table = _extract(image, computeresiduals=True)
    extended = table[table["morphId"] == 3]
    assert len(extended) == 1
    assert abs(extended["x_w"][0] - BLOB[0]) < 10 and abs(extended["y_w"][0] - BLOB[1]) < 10
    params = ExtractionParams.parse({"bkgbox": 40})
    finder = params.extended_stage().finder  # type: ignore[union-attr]
    assert finder is not None
    maps = params.background_estimator().estimate(image.data, image.beam.size_pixels(image.pixscale_arcsec))
    geometry = {
        "wcs": image.wcs,
        "beam_area_pixels": image.beam.area_pixels(image.pixscale_arcsec),
        "frequency_hz": None,
    }
    compact = np.zeros(image.data.shape, bool)
    assert len(finder.find(image.data, maps, compact, **geometry)[0]) >= 1  # type: ignore[arg-type]
    flat = np.zeros_like(image.data)
    assert len(finder.find(image.data, maps, compact, search=flat, **geometry)[0]) == 0  # type: ignore[arg-type]


def test_residual_parameters() -> None:
    assert ExtractionParams(res_removedsourcetype="compact").res_removedsourcetype == "COMPACT"
    assert ExtractionParams.parse({"res-removedsourcetype": "-1"}).res_removedsourcetype == "ALL"
    with pytest.raises(ParameterError, match="res_zhighthr"):
        ExtractionParams.parse({"res-zthr": 12, "res-zhighthr": 10})
    with pytest.raises(ParameterError, match="res_removedsourcetype"):
        ExtractionParams.parse({"res-removedsourcetype": "BLOB"})


def _component(amp: float, x: float, y: float, sx: float, sy: float, theta_deg: float) -> dict[str, float]:
    return {"Speak(Jy/beam)": amp, "x": x, "y": y, "sx": sx, "sy": sy, "theta": theta_deg}


def test_fit_model_subtracts_the_fitted_gaussians_of_fitted_sources_and_dilates_the_others() -> None:
    yy, xx = np.mgrid[0:60, 0:60].astype(float)
    comp = _component(5.0, 20.3, 19.6, 2.5, 1.5, 30.0)
    params = np.array([5.0, 20.3, 19.6, 2.5, 1.5, np.radians(30.0)])
    data = (1.0 + gaussian_model(params, xx.ravel(), yy.ravel()).reshape(xx.shape)).astype(np.float32)
    data[44:47, 44:47] = 9.0  # an island that was not fitted
    maps = BackgroundMaps(np.full(data.shape, 0.5, np.float32), np.ones(data.shape, np.float32))
    table = Table({"zmax": [20.0, 20.0], "morphId": [2, 2]})
    table["components"] = np.empty(2, dtype=object)
    table["components"][0], table["components"][1] = [comp], []
    islands = [_square(15, 25, 15, 26), _square(44, 47, 44, 47)]
    residual = ResidualMap(fit_model=True).build(data, maps, table, islands)
    # within caesar's box (±⌈5σx⌉ = 13 px in x, ±⌈5σy⌉ = 8 px in y around pixel (20, 20)): the model is gone
    np.testing.assert_allclose(residual[12:29, 7:34], 1.0, atol=1e-5)
    outside = np.ones(data.shape, bool)
    outside[12:29, 7:34] = False
    outside[40:] = False  # (the other island)
    wing = np.unravel_index(int(np.argmax(np.where(outside, data, 0.0))), data.shape)
    assert data[wing] > 1.0 and residual[wing] == data[wing]  # the model's wing beyond the box stays
    assert np.all(residual[44:47, 44:47] == 0.5) and residual[45, 50] == 0.5  # dilated with the background
    # caesar: EXTENDED as the removed type dilates every source, fitted or not
    extended = ResidualMap(fit_model=True, source_type="EXTENDED").build(data, maps, table, islands)
    assert np.all(extended[15:25, 15:26] == 0.5)
    # without the option both are dilated
    assert np.all(ResidualMap().build(data, maps, table, islands)[15:25, 15:26] == 0.5)


def test_fit_model_goes_by_the_mothers_fit_for_nested_sources_as_caesar() -> None:
    data = np.full((60, 60), 1.0, np.float32)
    maps = BackgroundMaps(np.full(data.shape, 0.5, np.float32), np.ones(data.shape, np.float32))
    inner = np.column_stack([np.repeat(np.arange(22, 25), 3), np.tile(np.arange(22, 25), 3)])
    nested = [{"morphId": 2, "pixel_xy": inner, "components": [_component(0.5, 23.0, 23.0, 1.0, 1.0, 0.0)]}]
    table = Table({"zmax": [7.0], "morphId": [2]})
    table["nested"] = np.empty(1, dtype=object)
    table["nested"][0] = nested
    table["components"] = np.empty(1, dtype=object)
    table["components"][0] = []
    res = ResidualMap(remove_nested=True, fit_model=True)
    # an unfitted mother: its nested source is dilated (caesar reads the mother's fit, not the nested one's)
    assert np.all(res.build(data, maps, table, [_square(10, 40, 10, 40)])[22:25, 22:25] == 0.5)
    # a fitted mother: the nested source's own fit is subtracted
    table["components"][0] = [_component(2.0, 25.0, 25.0, 4.0, 4.0, 0.0)]
    residual = res.build(data, maps, table, [_square(10, 40, 10, 40)])
    assert residual[23, 23] == pytest.approx(0.5) and residual[23, 30] == 1.0  # 1 − 0.5 at its centre; 7 px off
    params = ExtractionParams.parse({"res-pssubtractionmethod": "FITMODEL"}).residual_map()
    assert params.fit_model and ExtractionParams.parse({"res-pssubtractionmethod": 1}).residual_map().fit_model is False
    with pytest.raises(ParameterError, match="DILATION or FITMODEL"):
        ExtractionParams.parse({"res-pssubtractionmethod": "MODEL"})


def test_in_an_extraction_fit_model_dilates_as_caesar_since_the_fit_comes_after_the_residual() -> None:
    image = _field(0, blob=True)
    options = {"computeresiduals": True, "fitsources": True, "res-removedsourcetype": "ALL"}
    dilated = _extract(image, **options)
    by_model = _extract(image, **options, **{"res-pssubtractionmethod": "FITMODEL"})
    assert len(dilated) == len(by_model) and (dilated["morphId"] == 3).sum() == 1
    np.testing.assert_array_equal(np.asarray(dilated["Stot(Jy/beam)"]), np.asarray(by_model["Stot(Jy/beam)"]))
