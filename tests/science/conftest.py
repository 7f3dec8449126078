"""Shared fixtures for the science tests: small WCS, FITS files written through astropy directly, noiseless
Gaussian islands."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from science.extract.gaussian import gaussian_model
from science.extract.islands import IslandPixels
from science.simulate import make_sim_wcs

#: (σ_maj, σ_min, θ) in pixels and radians of a 4-pixel FWHM round beam.
BEAM_SIGMA = (4.0 / 2.3548, 4.0 / 2.3548, math.pi / 2)


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


def gaussian_island(params: np.ndarray, size: int = 25, cut: float = 0.05) -> IslandPixels:
    """A noiseless island: the pixels of a ``size²`` image of Gaussians ``params`` above ``cut`` × the peak
    (rms 0.01)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    value = gaussian_model(params, xx.ravel(), yy.ravel())
    keep = value >= cut * value.max()
    ones = np.ones(int(keep.sum()))
    return IslandPixels(xx.ravel()[keep], yy.ravel()[keep], value[keep], ones * 0.01, value[keep] / 0.01)


@pytest.fixture
def noise_fits(tmp_path: Path) -> Path:
    """A valid 64×64 Jy/beam image of white noise."""
    data = np.random.default_rng(1).normal(0.0, 1e-4, (64, 64)).astype(np.float32)
    path = tmp_path / "noise.fits"
    fits.PrimaryHDU(data, fits_header((64, 64))).writeto(path)
    return path
