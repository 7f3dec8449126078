"""load_image / load_section on good files and on a zoo of bad ones."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from science.errors import InvalidImageError
from science.image import Beam
from science.io.fits import image_base_name, load_image, load_image_info, load_section, write_image
from science.simulate import simulate_image
from tests.science.conftest import fits_header


def _write(path: Path, data: np.ndarray, header: fits.Header) -> Path:
    fits.PrimaryHDU(data, header).writeto(path)
    return path


def test_valid_2d_image_loads_with_beam_units_and_float32(noise_fits: Path) -> None:
    image = load_image(noise_fits)
    assert image.data.dtype == np.float32
    assert image.shape == (64, 64)
    assert image.beam == Beam(8.0, 8.0, 0.0)
    assert image.unit == "Jy/beam"
    assert image.name == "noise"
    assert image.pixscale_arcsec == pytest.approx(2.0)
    assert image.frequency_hz is None


def test_write_then_load_round_trips_pixels_beam_and_frequency(tmp_path: Path) -> None:
    image, _ = simulate_image(shape=(40, 50), n_sources=3, seed=3)
    path = write_image(tmp_path / "sim.fits", image)
    back = load_image(path)
    np.testing.assert_array_equal(back.data, image.data)
    assert back.beam == image.beam
    assert back.frequency_hz == image.frequency_hz
    assert back.wcs.wcs.crval[0] == pytest.approx(150.0)


def test_zero_and_inf_pixels_are_blank(tmp_path: Path) -> None:
    data = np.ones((20, 20), np.float32)
    data[0, 0] = 0.0
    data[1, 1] = np.inf
    image = load_image(_write(tmp_path / "z.fits", data, fits_header((20, 20))))
    assert np.isnan(image.data[0, 0]) and np.isnan(image.data[1, 1])
    assert np.isfinite(image.data).sum() == 398


def test_degenerate_4d_cube_is_squeezed_and_frequency_read(tmp_path: Path) -> None:
    header = fits_header((30, 20))
    header["NAXIS"] = 4
    header["CTYPE3"], header["CRVAL3"], header["CRPIX3"], header["CDELT3"] = "FREQ", 1.4e9, 1.0, 1e6
    header["CTYPE4"], header["CRVAL4"], header["CRPIX4"], header["CDELT4"] = "STOKES", 1.0, 1.0, 1.0
    data = np.ones((1, 1, 30, 20), np.float32)
    image = load_image(_write(tmp_path / "cube.fits", data, header))
    assert image.shape == (30, 20)
    assert image.frequency_hz == pytest.approx(1.4e9)


def test_load_section_reads_only_the_requested_pixels(tmp_path: Path) -> None:
    data = np.arange(1, 601, dtype=np.float32).reshape(20, 30)
    path = _write(tmp_path / "s.fits", data, fits_header((20, 30)))
    info, section = load_section(path, 5, 9, 10, 13)
    assert info.shape == (20, 30)
    np.testing.assert_array_equal(section, data[5:9, 10:13])
    with pytest.raises(InvalidImageError, match=re.escape("section y[5:25] x[0:3] is outside s of shape (20, 30)")):
        load_section(path, 5, 25, 0, 3)


def test_base_name_strips_fits_extensions() -> None:
    assert image_base_name("/d/tile_07.fits") == "tile_07"
    assert image_base_name("/d/a.b.fits.gz") == "a.b"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError, match="does not exist or is not a file"):
        load_image(tmp_path / "nope.fits")


def test_zero_size_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.fits"
    path.write_bytes(b"")
    with pytest.raises(InvalidImageError, match=r"empty.fits is an empty file \(0 bytes\), not a FITS image"):
        load_image(path)


def test_not_fits(tmp_path: Path) -> None:
    path = tmp_path / "text.fits"
    path.write_text("hello world\n" * 100)
    with pytest.raises(InvalidImageError, match=re.escape("text.fits is not a readable FITS file")):
        load_image(path)


def test_truncated_file(tmp_path: Path, noise_fits: Path) -> None:
    raw = noise_fits.read_bytes()
    path = tmp_path / "trunc.fits"
    path.write_bytes(raw[: 2880 + 4000])
    with pytest.raises(InvalidImageError, match=re.escape("trunc.fits is truncated or corrupt: buffer is too small")):
        load_image(path)


def test_all_nan_image(tmp_path: Path) -> None:
    path = _write(tmp_path / "nan.fits", np.full((10, 10), np.nan, np.float32), fits_header((10, 10)))
    with pytest.raises(InvalidImageError, match=re.escape("nan.fits has no valid pixels (all blank: NaN, Inf or 0)")):
        load_image(path)


def test_no_wcs(tmp_path: Path) -> None:
    header = fits.Header({"BUNIT": "Jy/beam", "BMAJ": 0.002, "BMIN": 0.002})
    path = _write(tmp_path / "nowcs.fits", np.ones((10, 10), np.float32), header)
    with pytest.raises(InvalidImageError, match=re.escape("nowcs.fits has no celestial WCS")):
        load_image(path)


def test_no_pixel_size_fails_unless_given(tmp_path: Path) -> None:
    """Without CDELT or a CD matrix WCSLIB takes 1 degree pixels: refused, or caesar's mappixsize stands in."""
    header = fits_header((10, 10))
    for key in ("CDELT1", "CDELT2", "PC1_1", "PC1_2", "PC2_1", "PC2_2"):
        header.remove(key, ignore_missing=True)
    path = _write(tmp_path / "noscale.fits", np.ones((10, 10), np.float32), header)
    message = "noscale.fits has no pixel size (CDELT1/CDELT2 or a CD matrix); give one in arcsec (mappixsize)"
    with pytest.raises(InvalidImageError, match=re.escape(message)):
        load_image(path)
    with pytest.raises(InvalidImageError, match=re.escape(message)):
        load_image_info(path)
    assert load_image(path, pixel_arcsec=2.0).pixscale_arcsec == pytest.approx(2.0)
    assert load_section(path, 0, 5, 0, 5, pixel_arcsec=3.0)[0].pixscale_arcsec == pytest.approx(3.0)
    assert load_image(path, pixel_arcsec=2.0).beam == Beam(8.0, 8.0, 0.0), "the header's beam, in arcsec"


def test_a_cd_matrix_is_a_pixel_size_and_the_header_wins(tmp_path: Path) -> None:
    header = fits_header((10, 10))
    for key in ("CDELT1", "CDELT2", "PC1_1", "PC1_2", "PC2_1", "PC2_2"):
        header.remove(key, ignore_missing=True)
    header["CD1_1"], header["CD2_2"] = -2.0 / 3600.0, 2.0 / 3600.0
    path = _write(tmp_path / "cd.fits", np.ones((10, 10), np.float32), header)
    assert load_image(path, pixel_arcsec=5.0).pixscale_arcsec == pytest.approx(2.0)


def test_no_beam_fails_unless_given(tmp_path: Path) -> None:
    path = _write(tmp_path / "nobeam.fits", np.ones((10, 10), np.float32), fits_header((10, 10), beam=False))
    with pytest.raises(
        InvalidImageError, match=re.escape("nobeam.fits has no beam (BMAJ/BMIN missing); pass beam=...")
    ):
        load_image(path)
    assert load_image(path, beam=Beam(10.0, 5.0, 30.0)).beam == Beam(10.0, 5.0, 30.0)


def test_header_beam_wins_over_given_beam(noise_fits: Path) -> None:
    assert load_image(noise_fits, beam=Beam(1.0, 1.0)).beam == Beam(8.0, 8.0, 0.0)


def test_non_degenerate_3d_cube(tmp_path: Path) -> None:
    header = fits_header((10, 12))
    header["NAXIS"] = 3
    header["CTYPE3"], header["CRVAL3"], header["CRPIX3"], header["CDELT3"] = "FREQ", 1.4e9, 1.0, 1e6
    path = _write(tmp_path / "cube3.fits", np.ones((4, 10, 12), np.float32), header)
    with pytest.raises(InvalidImageError, match=re.escape("cube3.fits is a 3-D cube with shape (4, 10, 12)")):
        load_image(path)


def test_non_degenerate_4d_cube(tmp_path: Path) -> None:
    path = _write(tmp_path / "cube4.fits", np.ones((2, 1, 10, 12), np.float32), fits_header((10, 12)))
    with pytest.raises(InvalidImageError, match=re.escape("shape (2, 1, 10, 12)")):
        load_image(path)


def test_zero_size_axis(tmp_path: Path) -> None:
    path = tmp_path / "zeroaxis.fits"
    header = fits_header((0, 0))
    fits.PrimaryHDU(None, header).writeto(path)
    with pytest.raises(InvalidImageError, match=re.escape("zeroaxis.fits has no image data (no HDU with NAXIS ≥ 1)")):
        load_image(path)


@pytest.mark.parametrize("bunit", ["K", "Jy/pixel", "mJy/beam"])
def test_units_other_than_jy_per_beam(tmp_path: Path, bunit: str) -> None:
    path = _write(tmp_path / "units.fits", np.ones((10, 10), np.float32), fits_header((10, 10), bunit=bunit))
    with pytest.raises(InvalidImageError, match=re.escape(f"units.fits has BUNIT={bunit!r}; only Jy/beam")):
        load_image(path)


def test_missing_bunit_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "nounit.fits", np.ones((10, 10), np.float32), fits_header((10, 10), bunit=None))
    with pytest.raises(InvalidImageError, match=re.escape("nounit.fits has BUNIT=None; only Jy/beam")):
        load_image_info(path)


def test_bunit_is_case_insensitive(tmp_path: Path) -> None:
    path = _write(tmp_path / "case.fits", np.ones((10, 10), np.float32), fits_header((10, 10), bunit="JY/BEAM "))
    assert load_image(path).unit == "Jy/beam"


def test_scaled_integer_image_with_blank_pixels_loads_blanks_as_nan(tmp_path: Path) -> None:
    # An int32 image with BSCALE/BZERO and BLANK (radio archives write them): astropy will not memory-map it
    # scaled, so the reader scales the raw pixels itself, whole or by section.
    rng = np.random.default_rng(5)
    raw = rng.integers(-5000, 5000, size=(30, 40), dtype=np.int32)
    raw[raw == 0] = 1
    raw[3, 4] = raw[10, 20] = -99999
    hdu = fits.PrimaryHDU(raw, fits_header((30, 40)))
    hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 1e-6, 2e-3, -99999  # set after: kept raw
    path = tmp_path / "int.fits"
    hdu.writeto(path)
    with fits.open(path, do_not_scale_image_data=True) as check:
        assert check[0].data[3, 4] == -99999 and check[0].header["BSCALE"] == 1e-6  # the file is what is meant
    expected = (raw * 1e-6 + 2e-3).astype(np.float32)
    image = load_image(path)
    assert np.isnan(image.data[3, 4]) and np.isnan(image.data[10, 20])
    assert np.isfinite(image.data).sum() == 30 * 40 - 2
    keep = raw != -99999
    np.testing.assert_allclose(image.data[keep], expected[keep], rtol=1e-6)
    _, section = load_section(path, 2, 12, 3, 25)
    np.testing.assert_array_equal(section, image.data[2:12, 3:25])


def test_unsigned_16_bit_image_is_read_through_its_offset(tmp_path: Path) -> None:
    # uint16 is stored as int16 with BZERO = 32768.
    values = np.arange(1, 601, dtype=np.uint16).reshape(20, 30) * np.uint16(100)
    path = tmp_path / "u16.fits"
    fits.PrimaryHDU(values, fits_header((20, 30))).writeto(path)
    with fits.open(path, do_not_scale_image_data=True) as check:
        assert check[0].header["BZERO"] == 32768 and check[0].data.dtype.kind == "i"
    np.testing.assert_array_equal(load_image(path).data, values.astype(np.float32))


@pytest.mark.parametrize(("key", "value"), [("BMAJ", "abc"), ("BMIN", "8 arcsec"), ("BPA", "north")])
def test_beam_keyword_that_is_not_a_number_is_named(tmp_path: Path, key: str, value: str) -> None:
    header = fits_header((20, 20))
    header[key] = value
    path = _write(tmp_path / "b.fits", np.ones((20, 20), np.float32), header)
    with pytest.raises(InvalidImageError, match=re.escape(f"b.fits has {key}={value!r}, which is not a number")):
        load_image(path)


def test_frequency_keyword_that_is_not_a_number_leaves_the_frequency_unknown(tmp_path: Path) -> None:
    header = fits_header((20, 20))
    header["RESTFRQ"] = "1.4 GHz"
    image = load_image(_write(tmp_path / "f.fits", np.ones((20, 20), np.float32), header))
    assert image.frequency_hz is None
