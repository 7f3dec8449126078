"""caesar's FITS maps (save-fits + save-bkgmap / save-rmsmap / save-significancemap): names, values, tiles, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from typer.testing import CliRunner

from cirasa.main import app
from science.extract.extractor import ExtractionParams, extract_file
from science.extract.pipeline import background_maps
from science.io.fits import load_image, load_image_info, write_image
from science.io.maps import MapFiles, map_kinds
from science.simulate import simulate_image

KINDS = ["bkg", "rms", "significance"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image, _ = simulate_image(shape=(300, 340), n_sources=80, seed=9)
    return write_image(tmp_path_factory.mktemp("maps") / "field.fits", image)


def test_save_options_name_the_maps_caesar_writes_as_fits() -> None:
    assert map_kinds(["save-fits", "--save-rmsmap", "save_bkgmap", "save-significancemap"]) == (KINDS, [])
    assert map_kinds({"save-fits": None, "save-bkgmap": "true", "save-rmsmap": "false"}) == (["bkg"], [])
    kinds, notes = map_kinds(["save-bkgmap"])  # caesar: into its ROOT file
    assert kinds == [] and "without save-fits" in notes[0] and "save-bkgmap" in notes[0]
    kinds, notes = map_kinds(["save-fits", "save-residualmap", "save-saliencymap", "seedthr"])
    assert kinds == []
    assert any("residual map only with computeresiduals" in n for n in notes)
    assert any("saliency map in its ROOT file only" in n for n in notes)
    assert map_kinds(["save-fits", "save-residualmap"], residual=True) == (["res"], [])


def test_whole_image_maps_are_the_extraction_maps_with_the_image_wcs(sim: Path, tmp_path: Path) -> None:
    params = ExtractionParams(extendedsearch=False)
    files = MapFiles.create(load_image_info(sim), tmp_path, KINDS)
    table = extract_file(sim, params, maps_to=files)
    assert len(table) > 20
    assert [Path(p).name for _, p in files.paths] == [f"out-field_{k}.fits" for k in KINDS]
    image = load_image(sim)
    maps = background_maps(image.data, params, image.beam.size_pixels(image.pixscale_arcsec))
    read = {k: fits.getdata(p) for k, p in files.paths}
    np.testing.assert_array_equal(read["bkg"], maps.level)
    np.testing.assert_array_equal(read["rms"], maps.rms)
    np.testing.assert_array_equal(read["significance"], maps.significance(image.data))
    header = fits.getheader(dict(files.paths)["rms"])
    assert header["BUNIT"] == "Jy/beam" and header["NAXIS1"] == 340 and header["NAXIS2"] == 300
    np.testing.assert_allclose(WCS(header).wcs.crval, image.wcs.wcs.crval)
    assert fits.getheader(dict(files.paths)["significance"])["BUNIT"] == ""


def test_tiles_fill_every_pixel_of_the_maps(sim: Path, tmp_path: Path) -> None:
    whole = MapFiles.create(load_image_info(sim), tmp_path / "whole", ["rms"])
    extract_file(sim, ExtractionParams(extendedsearch=False), maps_to=whole)
    tiled = MapFiles.create(load_image_info(sim), tmp_path / "tiled", ["rms"])
    extract_file(sim, ExtractionParams(extendedsearch=False, tile_size=128), maps_to=tiled)
    a, b = fits.getdata(whole.paths[0][1]), fits.getdata(tiled.paths[0][1])
    assert np.isfinite(b).all()  # every core written (created NaN)
    assert np.median(np.abs(b / a - 1.0)) < 0.02  # tiles see the same boxes, fewer near their edges


def test_unknown_map_is_refused(sim: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown map 'saliency'"):
        MapFiles.create(load_image_info(sim), tmp_path, ["saliency"])


def test_cli_writes_the_maps_asked_for_and_says_what_it_does_not(sim: Path, tmp_path: Path) -> None:
    out = tmp_path / "job"
    args = ["extract", str(sim), "--out", str(out), "-O", "save-fits", "-O", "save-rmsmap", "-O", "save-residualmap"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "out-field_rms.fits").exists() and not (out / "out-field_bkg.fits").exists()
    assert "residual map only with computeresiduals" in " ".join(result.output.split())
    assert (out / "catalog-field.dat").exists()


def test_cli_refuses_caesar_options_it_does_not_implement_and_skips_run_options(sim: Path, tmp_path: Path) -> None:
    args = ["extract", str(sim), "--out", str(tmp_path), "-O", "fit-improveerrors", "-O", "nthreads=4"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    said = " ".join(result.output.split())  # (rich wraps lines)
    assert "not-implemented: caesar-rest option(s) this engine does not implement: fit-improveerrors" in said
    result = CliRunner().invoke(app, ["extract", str(sim), "--out", str(tmp_path), "-O", "nthreads=4"])
    assert result.exit_code == 0, result.output


def test_residual_map_is_written_when_computed(sim: Path, tmp_path: Path) -> None:
    """save-residualmap with computeresiduals: out-<base>_res.fits is the image with the removed sources
    replaced by the background, elsewhere the image itself."""
    params = ExtractionParams(computeresiduals=True, res_removedsourcetype="ALL")
    files = MapFiles.create(load_image_info(sim), tmp_path, ["res", "bkg"])
    extract_file(sim, params, maps_to=files)
    res, bkg = (fits.getdata(dict(files.paths)[k]) for k in ("res", "bkg"))
    data = load_image(sim).data
    replaced = res != data
    assert replaced.any() and not replaced.all()
    np.testing.assert_array_equal(res[replaced], bkg[replaced])
