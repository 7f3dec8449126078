"""Shared fixtures for the science tests: small WCS, FITS files written through astropy directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from science.simulate import make_sim_wcs


def fits_header(shape: tuple[int, int], *, beam: bool = True, bunit: str | None = "Jy/beam") -> fits.Header:
    """Header of a 2-D SIN image with 2″ pixels, optionally without beam or units."""
    header = make_sim_wcs(shape, 2.0, 150.0, -30.0).to_header()
    if bunit is not None:
        header["BUNIT"] = bunit
    if beam:
        header["BMAJ"] = 8.0 / 3600.0
        header["BMIN"] = 8.0 / 3600.0
        header["BPA"] = 0.0
    return header


@pytest.fixture
def noise_fits(tmp_path: Path) -> Path:
    """A valid 64×64 Jy/beam image of white noise."""
    data = np.random.default_rng(1).normal(0.0, 1e-4, (64, 64)).astype(np.float32)
    path = tmp_path / "noise.fits"
    fits.PrimaryHDU(data, fits_header((64, 64))).writeto(path)
    return path
