"""The overlay picture of an extraction reads the image as the extraction did: a beam or pixel size the header
lacks comes from the extraction's settings (no Prefect server needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from flows.artifacts import render_overlay_png
from science.errors import InvalidImageError
from science.extract.params import ExtractionParams
from science.io.fits import write_image
from science.simulate import simulate_image


def _bare(tmp_path: Path) -> Path:
    """A simulated image whose header has neither beam nor pixel size."""
    image, _ = simulate_image(shape=(96, 96), n_sources=5, seed=2)
    path = write_image(tmp_path / "sim.fits", image)
    with fits.open(path) as hdul:
        header, data = hdul[0].header.copy(), hdul[0].data.copy()
    for key in ("BMAJ", "BMIN", "BPA", "CDELT1", "CDELT2", "PC1_1", "PC1_2", "PC2_1", "PC2_2"):
        header.remove(key, ignore_missing=True)
    bare = tmp_path / "bare.fits"
    fits.PrimaryHDU(data, header).writeto(bare)
    return bare


def test_the_overlay_takes_the_extractions_beam_and_pixel_size(tmp_path: Path) -> None:
    bare = _bare(tmp_path)
    catalogue = Table({"x": np.array([40.0]), "y": np.array([50.0])})
    with pytest.raises(InvalidImageError):
        render_overlay_png(bare, catalogue)  # the header alone cannot be read
    params = ExtractionParams(bmaj=8.0, bmin=8.0, mappixsize=2.0)
    png = render_overlay_png(bare, catalogue, params=params)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
