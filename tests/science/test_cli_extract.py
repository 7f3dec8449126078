"""`cirasa extract` / `cirasa simulate` end to end: caesar files written; the bad-FITS zoo exits 1 with `code: detail`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from typer.testing import CliRunner

from cirasa.main import app
from tests.science.conftest import fits_header

runner = CliRunner()


def _zoo(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Bad files and the message each must give."""
    good = tmp / "good.fits"
    fits.PrimaryHDU(
        np.random.default_rng(0).normal(0, 1e-4, (64, 64)).astype(np.float32), fits_header((64, 64))
    ).writeto(good)
    trunc = tmp / "trunc.fits"
    trunc.write_bytes(good.read_bytes()[: 2880 + 4000])
    nan = tmp / "nan.fits"
    fits.PrimaryHDU(np.full((10, 10), np.nan, np.float32), fits_header((10, 10))).writeto(nan)
    nowcs = tmp / "nowcs.fits"
    fits.PrimaryHDU(
        np.ones((10, 10), np.float32), fits.Header({"BUNIT": "Jy/beam", "BMAJ": 0.002, "BMIN": 0.002})
    ).writeto(nowcs)
    nobeam = tmp / "nobeam.fits"
    fits.PrimaryHDU(np.ones((10, 10), np.float32), fits_header((10, 10), beam=False)).writeto(nobeam)
    cube3 = tmp / "cube3.fits"
    header = fits_header((10, 12))
    header["NAXIS"], header["CTYPE3"], header["CRVAL3"], header["CRPIX3"], header["CDELT3"] = 3, "FREQ", 1.4e9, 1.0, 1e6
    fits.PrimaryHDU(np.ones((4, 10, 12), np.float32), header).writeto(cube3)
    cube4 = tmp / "cube4.fits"
    fits.PrimaryHDU(np.ones((2, 1, 10, 12), np.float32), fits_header((10, 12))).writeto(cube4)
    empty = tmp / "empty.fits"
    empty.write_bytes(b"")
    noaxis = tmp / "noaxis.fits"
    fits.PrimaryHDU(None, fits_header((0, 0))).writeto(noaxis)
    kelvin = tmp / "kelvin.fits"
    fits.PrimaryHDU(np.ones((10, 10), np.float32), fits_header((10, 10), bunit="K")).writeto(kelvin)
    return {
        "truncated": (trunc, "invalid-image: trunc.fits is truncated or corrupt"),
        "all-nan": (nan, "invalid-image: nan.fits has no valid pixels"),
        "no-wcs": (nowcs, "invalid-image: nowcs.fits has no celestial WCS"),
        "no-beam": (nobeam, "invalid-image: nobeam.fits has no beam"),
        "3-d cube": (cube3, "invalid-image: cube3.fits is a 3-D cube"),
        "4-d cube": (cube4, "invalid-image: cube4.fits is a 4-D cube"),
        "zero-size file": (empty, "invalid-image: empty.fits is an empty file"),
        "zero-size axis": (noaxis, "invalid-image: noaxis.fits has no image data"),
        "non-Jy/beam": (kelvin, "invalid-image: kelvin.fits has BUNIT='K'"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "truncated",
        "all-nan",
        "no-wcs",
        "no-beam",
        "3-d cube",
        "4-d cube",
        "zero-size file",
        "zero-size axis",
        "non-Jy/beam",
    ],
)
def test_bad_fits_exits_1_with_code_and_detail_and_no_traceback(tmp_path: Path, case: str) -> None:
    path, message = _zoo(tmp_path)[case]
    result = runner.invoke(app, ["extract", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert message in text
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_no_beam_is_accepted_with_a_user_beam(tmp_path: Path) -> None:
    path, _ = _zoo(tmp_path)["no-beam"]
    result = runner.invoke(app, ["extract", str(path), "--out", str(tmp_path / "o"), "--bmaj", "8", "--bmin", "8"])
    assert result.exit_code == 0, result.output


def test_simulate_then_extract_with_fit_writes_every_caesar_file(tmp_path: Path) -> None:
    image = tmp_path / "sky.fits"
    result = runner.invoke(app, ["simulate", str(image), "--size", "256", "--sources", "20", "--resolved", "2"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    result = runner.invoke(app, ["extract", str(image), "--out", str(out), "--fitsources", "-O", "fit-maxcomponents=2"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert names == {
        "catalog-sky.dat", "catalog-sky.json", "ds9-sky.reg",
        "catalog_fitcomp-sky.dat", "catalog_fitcomp-sky.json", "ds9_fitcomp-sky.reg",
    }  # fmt: skip


def test_engine_detection_options_pass_as_bare_flags_and_clash_clearly(tmp_path: Path) -> None:
    image = tmp_path / "sky.fits"
    assert runner.invoke(app, ["simulate", str(image), "--size", "256", "--sources", "30"]).exit_code == 0
    plain = runner.invoke(app, ["extract", str(image), "--out", str(tmp_path / "plain")])
    flags = ["-O", "seedpeakinterp", "-O", "bkgislandcorrection", "-O", "no-bkg2ndpass"]
    tuned = runner.invoke(app, ["extract", str(image), "--out", str(tmp_path / "tuned"), *flags])
    assert plain.exit_code == 0 and tuned.exit_code == 0, tuned.output
    rows = [len((tmp_path / d / "catalog-sky.dat").read_text().splitlines()) for d in ("plain", "tuned")]
    assert rows[1] >= rows[0]  # the same seeds or more: never fewer sources from a lower effective threshold
    clash = ["-O", "bkgislandcorrection", "-O", "bkgskipoutliers"]
    result = runner.invoke(app, ["extract", str(image), "--out", str(tmp_path / "clash"), *clash])
    assert result.exit_code == 1
    assert "no bkgskipoutliers (which leaves them out)" in " ".join(result.output.split())


def test_an_image_without_pixel_size_takes_caesars_mappixsize(tmp_path: Path) -> None:
    image = tmp_path / "sky.fits"
    assert runner.invoke(app, ["simulate", str(image), "--size", "256", "--sources", "30"]).exit_code == 0
    with fits.open(image) as hdul:
        header, data = hdul[0].header.copy(), hdul[0].data.copy()
    scale = abs(float(header["CDELT1"])) * 3600.0
    for key in ("CDELT1", "CDELT2", "PC1_1", "PC1_2", "PC2_1", "PC2_2"):
        header.remove(key, ignore_missing=True)
    bare = tmp_path / "bare.fits"
    fits.PrimaryHDU(data, header).writeto(bare)
    refused = runner.invoke(app, ["extract", str(bare), "--out", str(tmp_path / "refused")])
    assert refused.exit_code == 1
    assert "has no pixel size" in " ".join(refused.output.split())
    for name, path, extra in (("given", bare, ["-O", f"mappixsize={scale}"]), ("header", image, [])):
        result = runner.invoke(app, ["extract", str(path), "--out", str(tmp_path / name), "--tilesize", "128", *extra])
        assert result.exit_code == 0, result.output
    rows = [
        (tmp_path / d / f"catalog-{b}.dat").read_text().splitlines()[1:]
        for d, b in (("given", "bare"), ("header", "sky"))
    ]
    assert len(rows[0]) == len(rows[1]) > 0, "the same sources as with the header's own pixel size"


def test_unknown_option_is_a_parameter_error(tmp_path: Path) -> None:
    path, _ = _zoo(tmp_path)["no-beam"]
    result = runner.invoke(app, ["extract", str(path), "--out", str(tmp_path / "o"), "-O", "nosuchoption=1"])
    assert result.exit_code == 1
    assert "invalid-parameter: invalid extraction parameters: nosuchoption" in " ".join(result.output.split())


@pytest.mark.parametrize("command", ["extract", "simulate", "classify"])
def test_an_output_path_that_cannot_be_a_directory_fails_before_any_work(tmp_path: Path, command: str) -> None:
    image, _ = _zoo(tmp_path)["no-beam"]
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    where, args = {
        "extract": (
            blocker / "out",
            ["extract", str(image), "--out", str(blocker / "out"), "--bmaj", "8", "--bmin", "8"],
        ),
        "simulate": (blocker, ["simulate", str(blocker / "sky.fits"), "--size", "64", "--sources", "1"]),
        "classify": (blocker, ["classify", "catalogue", str(image), "--out", str(blocker)]),
    }[command]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert f"invalid-output: cannot use {where} as the output directory" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
