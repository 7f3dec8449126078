"""Features on hand-built sources with known answers, and the same features from caesar files read back."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.table import Table

from science.classify.errors import EmptyCatalogueError, MissingColumnsError
from science.classify.features import FEATURE_NAMES, build_features, feature_table, flatten_sources
from science.extract.sources import empty_island_table
from science.io.catalogue import read_island_catalogue, write_catalogue_products
from science.io.components import read_component_catalogue

FWHM = 4.0
AREA = math.pi * FWHM**2 / (4.0 * math.log(2.0))  # so that the geometric-mean FWHM is 4 px


def component(x: float, y: float, speak: float, **extra: Any) -> dict[str, Any]:
    """A fitted component with every key the writers and the features read."""
    comp: dict[str, Any] = {
        "componentId": 1, "x": x, "y": y, "Speak(Jy/beam)": speak, "bmaj": 8.0, "bmin": 4.0,
        "bmaj_beam(arcsec)": 8.0, "bmaj_deconv_wcs(arcsec)": 4.0, "fitBeamEllipseAreaRatio": 2.0,
        "S_island(Jy)": 3e-3, "chi2": 300.0, "ndf": 3, "fitQuality": 3,
    }  # fmt: skip
    comp.update(extra)
    return comp


def two_sources() -> Table:
    """S1: a 20-pixel island with two components; S2: 100× brighter, 12 px (3 beams) away, not fitted."""
    table = empty_island_table(2)
    table["name"] = ["S1", "S2"]
    table["npix"] = [20, 20]
    table["beamArea"] = AREA
    table["bkgSum(Jy/beam)"] = 20 * 1e-4
    table["rmsSum(Jy/beam)"] = 20 * 1e-4
    table["Smax(Jy/beam)"] = [1.1e-3, 0.1001]  # peaks 1e-3 and 0.1 above the 1e-4 background
    table["Stot(Jy/beam)"] = [20 * 1e-4 + 2 * AREA * 1e-3, 20 * 1e-4 + AREA * 0.1]
    table["xmin"], table["xmax"], table["ymin"], table["ymax"] = [10, 22], [17, 25], [20, 20], [23, 23]
    table["x"], table["y"], table["x_w"], table["y_w"] = [13.0, 24.0], [21.0, 21.0], [16.0, 28.0], [25.0, 25.0]
    table["nComponents"] = [2, 0]
    table["morphId"] = 1
    table["components"][0] = [
        component(12.0, 21.0, 1e-3),
        component(15.0, 25.0, 2.5e-4, componentId=2),
    ]
    table["components"][1] = []
    return table


def test_features_of_hand_built_sources_are_exact() -> None:
    features = feature_table(two_sources())
    first = {name: float(features[name][0]) for name in FEATURE_NAMES}
    expected = {
        "log_snr": 1.0, "log_nbeams": math.log10(20 / AREA), "flux_to_peak": 2.0, "extent_beams": 2.0,
        "bbox_aspect": 0.5, "fill": 0.625, "centroid_shift": 1.25, "n_components": 2.0, "n_nested": 0.0,
        "nested_level": 0.0, "morph_id": 1.0, "log_area_ratio": math.log10(2.0), "axis_ratio": 0.5,
        "deconv_major": 0.5, "comp_peak_ratio": 0.25, "comp_sep_beams": 1.25, "fit_flux_ratio": 1.5,
        "log_rchi2": 2.0, "fit_quality": 3.0, "log_bright_ratio": 2.0, "bright_dist": 3.0, "n_neighbours": 1.0,
    }  # fmt: skip
    assert first == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_an_isolated_unfitted_source_has_nan_fit_features_and_no_bright_neighbour() -> None:
    features = feature_table(two_sources())
    second = {name: float(features[name][1]) for name in FEATURE_NAMES}
    fit = ("log_area_ratio", "axis_ratio", "deconv_major", "comp_peak_ratio", "comp_sep_beams", "fit_flux_ratio")
    assert all(math.isnan(second[name]) for name in (*fit, "log_rchi2", "fit_quality"))
    assert second["log_snr"] == pytest.approx(3.0)
    assert second["flux_to_peak"] == pytest.approx(1.0)
    assert (second["log_bright_ratio"], second["bright_dist"], second["n_neighbours"]) == (0.0, 100.0, 1.0)


def test_features_from_caesar_files_equal_the_in_memory_ones(tmp_path: Path) -> None:
    table = two_sources()
    for comps in table["components"]:
        for k, comp in enumerate(comps, start=1):
            comp.update({c: 0.0 for c in _OTHER_COMPONENT_FLOATS} | {"npix": 20, "iauName": "J0", "componentId": k})
            comp.update({"morphId": 2, "sourcenessId": 2, "ndata": 20, "npars": 12, "flux_density": 0.0})
            comp["flux_density_err"] = 0.0
    files = write_catalogue_products(table, tmp_path, "img")
    islands = read_island_catalogue(files["catalogue"])
    components = read_component_catalogue(files["fitcomp_catalogue"])
    np.testing.assert_allclose(build_features(islands, components), build_features(table), rtol=1e-6, equal_nan=True)


_OTHER_COMPONENT_FLOATS = (
    "x_err", "y_err", "x_wcs(deg)", "y_wcs(deg)", "x_wcs_err(deg)", "y_wcs_err(deg)", "nu(GHz)",
    "Speak_err(Jy/beam)", "S(Jy)", "S_err(Jy)", "S_island_err(Jy)", "beamArea", "pa", "bmaj_err", "bmin_err",
    "pa_err", "bmaj_wcs(arcsec)", "bmin_wcs(arcsec)", "pa_wcs(deg)", "bmaj_wcs_err(arcsec)", "bmin_wcs_err(arcsec)",
    "pa_wcs_err(deg)", "bmin_beam(arcsec)", "pa_beam(deg)", "bmin_deconv_wcs(arcsec)", "pa_deconv_wcs(deg)",
    "fitBeamEllipseEccentricityRatio", "fitBeamEllipseRotAngle", "bkgSum(Jy/beam)", "rmsSum(Jy/beam)",
    "sx", "sy", "theta", "sx_err", "sy_err", "theta_err", "bmaj_deconv_wcs(arcsec)",
)  # fmt: skip


def test_nested_sources_become_rows_after_their_mother() -> None:
    table = two_sources()
    nested = {name: table[name][0] for name in table.colnames if name not in ("components", "contour", "nested")}
    nested.update({"sourceNestedLevel": 1, "components": []})
    table["nested"][0] = [nested]
    flat = flatten_sources(table)
    assert list(flat["name"]) == ["S1", "S1_N1", "S2"]
    features = feature_table(table)
    assert list(features["nested_level"]) == [0.0, 1.0, 0.0]
    assert list(features["n_neighbours"]) == [1.0, 2.0, 1.0]  # a nested row is nobody's neighbour


def test_an_empty_catalogue_is_a_clear_error() -> None:
    with pytest.raises(EmptyCatalogueError, match="no sources to classify"):
        build_features(empty_island_table(0))


def test_missing_columns_are_named() -> None:
    table = two_sources()
    table.remove_columns(["rmsSum(Jy/beam)", "beamArea"])
    with pytest.raises(MissingColumnsError, match=r"lacks column\(s\) beamArea, rmsSum\(Jy/beam\)") as info:
        build_features(table)
    assert info.value.code == "missing-columns"


def test_a_component_catalogue_without_the_needed_columns_is_refused() -> None:
    with pytest.raises(MissingColumnsError, match="component catalogue lacks"):
        build_features(two_sources(), Table({"name": ["S1"]}))
