"""Sidelobe-artefact rejection: faint detections close to a much brighter source are marked FAKE.

Residual sidelobes of a bright source look like faint compact sources within a few beams of it. A
detection (a fitted component, of an island or of its nested sources, or an island without any) is marked
``sourcenessId = 3`` (FAKE) when a detection at least ``1 / peak_ratio`` times brighter lies within
``radius_beams`` beam FWHMs and the detection is not beam-shaped (axis ratio of the free fit, before any
point-source refit, at least ``min_elongation``, 1.3 by default, or a fitted major axis ≥ 1.25 beam FWHM;
unfitted islands always count as not beam-shaped), so genuine point sources next to bright ones survive; an
island or nested source whose detections are all FAKE becomes FAKE too. A component's brightness is its
fitted peak capped at its island's highest pixel above the background (a point-source fit of crossing
sidelobes overshoots the pixels).

Given the image and its background, the shape is also read where the fit cannot be trusted: a fit of
a real source blended with a sidelobe comes out elongated or grown, while the image around its peak
stays round. The curvature of the brightest pixel near the detection (a quadratic fit to the
``(2h + 1)²`` pixels around it, ``h`` = the beam's σ rounded, at least 2) gives the axis ratio
``sqrt(c_max / c_min)`` of the peak; a detection whose peak is rounder than ``ROUND_PEAK`` is
beam-shaped whatever its fit (sidelobes, elongated 2-3 beams, have peak ratios of 1.4-6). Not a caesar
stage (caesar leaves every source CANDIDATE); off unless ``rejectartefacts`` is set.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
from astropy.table import Table

from science.errors import ParameterError
from science.image import FWHM_TO_SIGMA

__all__ = ["flag_artefacts"]

logger = logging.getLogger(__name__)

FAKE = 3
#: A component whose fitted major FWHM is at least this many beam FWHMs is not beam-shaped.
EXTENDED_FWHM = 1.25
#: A detection whose image peak has a curvature axis ratio below this is beam-shaped (see the docstring).
ROUND_PEAK = 1.3
#: A detection whose free fit has an axis ratio below this is beam-shaped (unless its image peak says otherwise).
MIN_ELONGATION = 1.3


def _detections(
    table: Table, beam_fwhm_pixels: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """Positions, peaks, elongations and owners ``(row, nested index or −1, component index or −1)`` of every
    detection: an island's components and its nested sources', or the island itself when none was fitted."""
    xy, peak, elong, owner = [], [], [], []
    for row in range(len(table)):
        # the island's highest pixel above its mean background caps its components' fitted peaks
        top = float(table["Smax(Jy/beam)"][row]) - float(table["bkgSum(Jy/beam)"][row]) / max(
            int(table["npix"][row]), 1
        )
        groups = [(-1, table["components"][row])]
        groups += [(n, nested.get("components", [])) for n, nested in enumerate(table["nested"][row])]
        fitted = False
        for n, comps in groups:
            for k, comp in enumerate(comps):
                xy.append((comp["x"], comp["y"]))
                peak.append(min(comp["Speak(Jy/beam)"], top))
                ratio = comp.get("free_axis_ratio", comp["bmaj"] / max(comp["bmin"], 1e-9))
                # deblended components start at the beam and may grow by 30 %: one that grew counts as extended
                elong.append(np.inf if comp["bmaj"] >= EXTENDED_FWHM * beam_fwhm_pixels else ratio)
                owner.append((row, n, k))
                fitted = True
        if not fitted:
            xy.append((float(table["x_w"][row]), float(table["y_w"][row])))
            peak.append(top)
            elong.append(np.inf)
            owner.append((row, -1, -1))
    return np.asarray(xy, float).reshape(-1, 2), np.asarray(peak, float), np.asarray(elong, float), owner


def _near_brighter(
    xy: np.ndarray, peak: np.ndarray, elong: np.ndarray, radius: float, peak_ratio: float, min_elongation: float
) -> np.ndarray:
    """Detections within ``radius`` of a positive detection at least ``1 / peak_ratio`` brighter, not beam-shaped.

    Candidate pairs come from a sweep over x (sorted, ``|Δx| ≤ radius``), then the exact distance test
    ``Δx² + Δy² ≤ radius²``: no k-d tree (and no ``scipy.spatial`` import) needed.
    """
    fake = np.zeros(len(peak), bool)
    bright = np.flatnonzero(peak > 0)
    if bright.size == 0:
        return fake
    order = np.argsort(xy[:, 0], kind="stable")
    xs = xy[order, 0]
    lo = np.searchsorted(xs, xy[bright, 0] - radius, side="left")
    hi = np.searchsorted(xs, xy[bright, 0] + radius, side="right")
    counts = hi - lo
    i = np.repeat(bright, counts)
    j = order[np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts - lo, counts)]
    d = xy[j] - xy[i]
    hit = ((d**2).sum(axis=1) <= radius**2) & (peak[j] < peak_ratio * peak[i]) & (elong[j] >= min_elongation)
    fake[j[hit]] = True
    return fake


def peak_axis_ratios(
    data: npt.NDArray[np.floating],
    level: npt.NDArray[np.floating],
    xy: np.ndarray,
    half: int,
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Axis ratio ``sqrt(c_max / c_min)`` of the image peak nearest each position (``inf`` where unknown).

    ``data − level`` is the image above its background (a tile placed at ``origin``); ``xy`` are full-image
    pixel positions.
    The peak is the brightest pixel within ``half`` of the position; ``c`` are the eigenvalues of minus
    the Hessian of a quadratic fitted to the ``(2·half + 1)²`` pixels around it. Positions too close to the
    edge, windows with blanks, and peaks that do not curve down in both directions give ``inf``.
    """
    out = np.full(len(xy), np.inf)
    offsets = np.arange(-half, half + 1)
    gy, gx = np.meshgrid(offsets, offsets, indexing="ij")
    design = np.column_stack(
        [np.ones(gx.size), gx.ravel(), gy.ravel(), gx.ravel() ** 2, gy.ravel() ** 2, (gx * gy).ravel()]
    )
    solve = np.linalg.pinv(design)
    ny, nx = data.shape

    def residual(y0: int, x0: int) -> npt.NDArray[np.float64]:
        window: npt.NDArray[np.float64] = np.subtract(
            data[y0 - half : y0 + half + 1, x0 - half : x0 + half + 1],
            level[y0 - half : y0 + half + 1, x0 - half : x0 + half + 1],
            dtype=np.float64,
        )
        return window

    for n, (x, y) in enumerate(np.asarray(xy, float)):
        cx, cy = round(float(x)) - origin[1], round(float(y)) - origin[0]
        if not (2 * half <= cx < nx - 2 * half and 2 * half <= cy < ny - 2 * half):
            continue
        near = residual(cy, cx)
        if not np.isfinite(near).all():
            continue
        ky, kx = np.unravel_index(int(np.argmax(near)), near.shape)
        window = residual(cy + int(ky) - half, cx + int(kx) - half)
        if not np.isfinite(window).all():
            continue
        c = solve @ window.ravel()
        hessian = np.array([[2.0 * c[3], c[5]], [c[5], 2.0 * c[4]]])
        low, high = np.linalg.eigvalsh(-hessian)
        if low > 0:
            out[n] = float(np.sqrt(high / low))
    return out


def flag_artefacts(
    table: Table,
    *,
    beam_fwhm_pixels: float,
    radius_beams: float,
    peak_ratio: float,
    min_elongation: float = MIN_ELONGATION,
    image: tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]] | None = None,
    origin: tuple[int, int] = (0, 0),
) -> int:
    """Mark artefacts in place (components and islands); returns how many detections were marked.

    ``image`` = ``(data, background level)`` (a tile at ``origin``) lets round image peaks count as
    beam-shaped whatever their fit (module docstring); without it only the fit is used.

    Raises
    ------
    ParameterError
        If ``radius_beams`` or ``beam_fwhm_pixels`` is not positive or ``peak_ratio`` not in (0, 1).
    """
    if not (radius_beams > 0 and beam_fwhm_pixels > 0 and 0 < peak_ratio < 1):
        raise ParameterError("need radius_beams > 0, beam_fwhm_pixels > 0 and 0 < peak_ratio < 1")
    if len(table) == 0:
        return 0
    xy, peak, elong, owner = _detections(table, beam_fwhm_pixels)
    fake = _near_brighter(xy, peak, elong, radius_beams * beam_fwhm_pixels, peak_ratio, min_elongation)
    if image is not None and fake.any():
        half = max(2, round(beam_fwhm_pixels * FWHM_TO_SIGMA))
        candidates = np.flatnonzero(fake)
        round_peak = peak_axis_ratios(image[0], image[1], xy[candidates], half, origin) < ROUND_PEAK
        fake[candidates[round_peak]] = False
    fake_rows: dict[int, list[bool]] = {}
    fake_nested: dict[tuple[int, int], list[bool]] = {}
    for flag, (row, n, k) in zip(fake, owner, strict=True):
        fake_rows.setdefault(row, []).append(bool(flag))
        if n >= 0:
            fake_nested.setdefault((row, n), []).append(bool(flag))
        if k >= 0 and flag:
            comps = table["components"][row] if n < 0 else table["nested"][row][n]["components"]
            comps[k]["sourcenessId"] = FAKE
    for row, flags in fake_rows.items():
        if all(flags):
            table["sourcenessId"][row] = FAKE
    for (row, n), flags in fake_nested.items():
        if all(flags):
            table["nested"][row][n]["sourcenessId"] = FAKE
    logger.debug("%d of %d detections marked as artefacts", int(fake.sum()), len(fake))
    return int(fake.sum())
