"""caesar's read-subimg: only the pixels [xmin, xmax] × [ymin, ymax] are read and extracted, as an image of
their own (maps, background grid, edges), with positions in the whole image's pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from science.errors import InvalidImageError, ParameterError
from science.extract.extractor import ExtractionParams, extract_file
from science.io.fits import load_image, load_image_info, load_section, write_image
from science.io.outputs import JobOutputs
from science.simulate import simulate_image

REGION = {"read-subimg": True, "xmin": 100, "xmax": 299, "ymin": 150, "ymax": 399}  # 200 × 250 px


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image, _ = simulate_image(shape=(512, 512), n_sources=200, seed=11)
    return write_image(tmp_path_factory.mktemp("subimg") / "field.fits", image)


def test_the_reader_sees_the_region_as_the_image(sim: Path) -> None:
    whole = load_image(sim)
    info = load_image_info(sim, region=(150, 400, 100, 300))
    assert info.shape == (250, 200) and info.offset == (150, 100)
    np.testing.assert_allclose(info.wcs.wcs_pix2world([[0, 0]], 0), whole.wcs.wcs_pix2world([[100, 150]], 0))
    part = load_image(sim, region=(150, 400, 100, 300))
    np.testing.assert_array_equal(part.data, whole.data[150:400, 100:300])
    _, section = load_section(sim, 10, 20, 5, 15, region=(150, 400, 100, 300))
    np.testing.assert_array_equal(section, whole.data[160:170, 105:115])
    assert load_image_info(sim, region=(150, 0, 100, 0)).shape == (362, 412)  # a stop of 0: to the end
    with pytest.raises(InvalidImageError, match="sub-image x\\[100:600\\] y\\[150:400\\] is not inside"):
        load_image_info(sim, region=(150, 400, 100, 600))


def test_sub_image_sources_are_the_whole_images_in_the_region_at_the_same_positions(sim: Path) -> None:
    whole = extract_file(sim, ExtractionParams(fitsources=True))
    part = extract_file(sim, ExtractionParams.parse({**REGION, "fitsources": True}))
    assert 0 < len(part) < len(whole)
    assert part["xmin"].min() >= 100 and part["xmax"].max() <= 299
    assert part["ymin"].min() >= 150 and part["ymax"].max() <= 399
    # islands well inside the region: the same as the whole image's (other background boxes: within 0.25 px)
    wcs = load_image(sim).wcs
    inner = part[(part["xmin"] > 110) & (part["xmax"] < 289) & (part["ymin"] > 160) & (part["ymax"] < 389)]
    assert len(inner) >= 5
    for row in inner:
        d = np.hypot(whole["x_w"] - row["x_w"], whole["y_w"] - row["y_w"])
        k = int(np.argmin(d))
        assert d[k] < 0.25
        ra, dec = wcs.wcs_pix2world(row["x_w"], row["y_w"], 0)  # sky positions follow the whole image's pixels
        assert abs(float(ra) - row["x_w_wcs(deg)"]) < 1e-9 and abs(float(dec) - row["y_w_wcs(deg)"]) < 1e-9
        assert np.asarray(row["contour"])[:, 0].min() == row["xmin"]
        if row["components"] and whole["components"][k]:
            assert abs(row["components"][0]["x"] - whole["components"][k][0]["x"]) < 0.25
    # an island cut by the region's border touches the sub-image's edge
    cut = part[(part["xmin"] == 100) | (part["xmax"] == 299) | (part["ymin"] == 150) | (part["ymax"] == 399)]
    assert all(cut["edge"])
    tiled = extract_file(sim, ExtractionParams.parse({**REGION, "fitsources": True, "tile_size": 128}))
    assert len(tiled) == len(part)
    np.testing.assert_allclose(np.sort(tiled["x_w"]), np.sort(part["x_w"]), atol=0.05)


def test_sub_image_maps_are_the_sub_images(sim: Path, tmp_path: Path) -> None:
    params = ExtractionParams.parse(REGION)
    plan = JobOutputs.plan(sim, params, tmp_path, ["save-fits", "save-rmsmap"])
    assert plan.maps_to is not None
    extract_file(sim, params, maps_to=plan.maps_to)
    with fits.open(dict(plan.maps_to.paths)["rms"]) as hdul:
        assert hdul[0].data.shape == (250, 200)
        assert np.isfinite(hdul[0].data).all() and (hdul[0].data > 0).all()
        assert hdul[0].header["CRPIX1"] == pytest.approx(fits.getheader(sim)["CRPIX1"] - 100)


def test_bad_ranges_are_refused(sim: Path) -> None:
    with pytest.raises(InvalidImageError, match="not inside"):
        extract_file(sim, ExtractionParams.parse({"read-subimg": True, "xmin": 300, "xmax": 200}))
    with pytest.raises(ParameterError, match="xmin: Input should be greater than or equal to 0"):
        ExtractionParams.parse({"read-subimg": True, "xmin": -5})
