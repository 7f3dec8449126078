"""DS9 region files in sky coordinates (caesar convertregionstowcs + regionwcs)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from typer.testing import CliRunner

from cirasa.main import app
from science.errors import ParameterError
from science.extract.extractor import ExtractionParams, SourceExtractor
from science.io.catalogue import write_catalogue_products
from science.io.fits import write_image
from science.io.sky_regions import SkyRegions, region_frame
from science.simulate import simulate_image


def _tan_wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [180.0, 0.0]
    wcs.wcs.crpix = [51.0, 51.0]
    wcs.wcs.cdelt = [-1e-3, 1e-3]
    wcs.wcs.radesys = "FK5"
    wcs.wcs.equinox = 2000.0
    return wcs


def test_frames_by_name_and_number() -> None:
    assert [region_frame(v) for v in ("J2000", "b1950", "Galactic", 0, "2")] == [
        "J2000", "B1950", "GALACTIC", "J2000", "GALACTIC",
    ]  # fmt: skip
    assert ExtractionParams(regionwcs="galactic").regionwcs == "GALACTIC"
    with pytest.raises(ParameterError, match="regionwcs"):
        ExtractionParams.parse({"regionwcs": "ICRS"})


def test_polygon_vertices_are_the_contour_pixels_in_the_sky() -> None:
    wcs = _tan_wcs()
    contour = np.array([[10, 20], [11, 20], [11, 21]])
    line = SkyRegions(wcs).polygon(contour)
    values = np.array(line.split()[1:], float).reshape(-1, 2)
    lon, lat = wcs.wcs_pix2world(contour[:, 0], contour[:, 1], 0)
    np.testing.assert_allclose(values, np.column_stack([lon, lat]), atol=5e-5)
    assert (
        line.startswith("polygon ") and line.endswith(" ") and all(len(v.split(".")[1]) == 4 for v in line.split()[1:])
    )
    galactic = np.array(SkyRegions(wcs, "GALACTIC").polygon(contour).split()[1:], float).reshape(-1, 2)
    expected = SkyCoord(lon, lat, unit="deg", frame="fk5").galactic
    np.testing.assert_allclose(galactic, np.column_stack([expected.l.deg, expected.b.deg]), atol=5e-5)


def test_ellipse_by_caesars_simple_conversion() -> None:
    wcs = _tan_wcs()
    shape, x, y, r1, r2, theta = SkyRegions(wcs).ellipse(50.0, 50.0, 4.0, 2.0, 30.0).split()
    assert shape == "ellipse"
    lon, lat = wcs.wcs_pix2world([50.0], [50.0], 0)
    assert float(x) == pytest.approx(lon[0], abs=1e-4) and float(y) == pytest.approx(lat[0], abs=1e-4)
    assert float(r1) == pytest.approx(4e-3, rel=1e-3) and float(r2) == pytest.approx(2e-3, rel=1e-3)  # degrees
    assert float(theta) == 150.0  # 180 − θ: RA grows to the left


def test_products_carry_the_sky_regions(tmp_path: Path) -> None:
    image, _ = simulate_image(shape=(256, 256), n_sources=20, seed=3)
    table = SourceExtractor(ExtractionParams(fitsources=True, extendedsearch=False)).extract(image)
    written = write_catalogue_products(table, tmp_path, "sim", sky=SkyRegions(image.wcs, "B1950"))
    islands = written["regions"].read_text().splitlines()
    components = written["fitcomp_regions"].read_text().splitlines()
    assert islands[2] == "fk4" and components[2] == "fk4"
    first = islands[3].split()
    assert first[0] == "polygon" and "." in first[1]
    ellipse = components[3].split()
    assert ellipse[0] == "ellipse" and math.isfinite(float(ellipse[3])) and float(ellipse[3]) < 0.1  # degrees


def test_cli_writes_sky_regions(tmp_path: Path) -> None:
    image, _ = simulate_image(shape=(256, 256), n_sources=20, seed=3)
    path = write_image(tmp_path / "field.fits", image)
    args = [
        "extract",
        str(path),
        "--out",
        str(tmp_path / "out"),
        "-O",
        "convertregionstowcs",
        "-O",
        "regionwcs=GALACTIC",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "ds9-field.reg").read_text().splitlines()[2] == "galactic"
