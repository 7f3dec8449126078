"""Peaks of a significance map interpolated between pixels (the ``seedpeakinterp`` seed rule; not in caesar).

A source's peak rarely falls on a pixel centre: its brightest pixel holds less than the peak (8 % less at
worst for a 4-pixel beam, 29 % for a 2-pixel one). Interpolated through the logarithms of the brightest
pixel and its eight neighbours, a Gaussian's peak comes back exactly, whatever its shape and orientation.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_PEAK_GAIN", "interpolated_peaks"]

#: Most an interpolated peak may exceed its pixel's value for the pixel to be tried: a Gaussian peak half a
#: pixel off in both axes leaves 71 % of it in the brightest pixel at a 2-pixel FWHM (an undersampled beam).
MAX_PEAK_GAIN = 1.5


def interpolated_peaks(z: npt.NDArray[np.float32], flat: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Peak of ``z`` interpolated around each pixel of ``flat`` (flat indices): the maximum of the quadratic
    through the logarithms of the pixel's 3×3 neighbourhood (finite differences; exact for a Gaussian of any
    shape and orientation); −inf where the pixel is not a local maximum of that neighbourhood, is on the
    image border, a neighbour is not positive or the maximum is more than a pixel away."""
    out = np.full(flat.size, -np.inf)
    ny, nx = z.shape
    y, x = np.divmod(flat, nx)
    ok = (y > 0) & (y < ny - 1) & (x > 0) & (x < nx - 1)
    idx = flat[ok]
    if idx.size == 0:
        return out
    values = z.ravel()
    around = np.stack([values[idx + dy * nx + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=1)
    good = (around > 0).all(axis=1) & (around[:, 4:5] >= around).all(axis=1)
    g = np.log(np.where(around > 0, around, 1.0).astype(np.float64))
    gx, gy = (g[:, 5] - g[:, 3]) / 2, (g[:, 7] - g[:, 1]) / 2
    hxx, hyy = g[:, 3] - 2 * g[:, 4] + g[:, 5], g[:, 1] - 2 * g[:, 4] + g[:, 7]
    hxy = (g[:, 8] - g[:, 6] - g[:, 2] + g[:, 0]) / 4
    det = hxx * hyy - hxy**2
    good &= (hxx < 0) & (det > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dx, dy = (hxy * gy - hyy * gx) / det, (hxy * gx - hxx * gy) / det  # −H⁻¹ g
        peak = g[:, 4] + (gx * dx + gy * dy) / 2
    good &= (np.abs(dx) <= 1) & (np.abs(dy) <= 1)
    out[np.flatnonzero(ok)[good]] = np.exp(peak[good])
    return out
