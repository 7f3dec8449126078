"""Nested ("blob in blob") sources by a multi-scale Laplacian of Gaussian (caesar §5, ``MultiScaleLoG``).

Only mothers with ``npix > ceil(source_to_beam_thr · beamArea)`` are searched. Around each such mother the
background-subtracted image is filtered with scale-normalised, inverted LoG kernels at
``σ = [min_scale … max_scale step scale_step] × beamPix / 2.355``; each LoG map gets a robust significance
(median and 1.4826·MAD over the cut-out); peaks (3×3 maxima) with ``Z ≥ peak_zthr`` seed a flood fill at
``Z ≥ merge_zthr`` on the per-pixel maximum over scales, keeping blobs of ≥ ``npixmin`` pixels. Nested
sources are the connected components of mother ∧ blob mask. A mother with a single candidate keeps it
only if its centroid is more than ``min_mother_dist`` px away from the mother's (in x or y) or it covers
less than ``max_mother_pix_match`` of the mother's pixels. The significance of the LoG maps over the
cut-out (not a full LoG background map as caesar) is a simplification.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from astropy.wcs import WCS
from scipy import ndimage

from science.extract.contour import trace_boundary
from science.extract.islands import FOUR_CONNECTIVITY, IslandPixels
from science.extract.sources import CAESAR_COLUMNS, iau_name

__all__ = ["NestedFinder", "laplacian_of_gaussian"]

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]


@lru_cache(maxsize=64)
def _gaussian_kernels(sigma: float, truncate: float = 4.0) -> tuple[F64, F64]:
    """The 1-D Gaussian and its second derivative as :func:`scipy.ndimage.gaussian_filter1d` correlates with
    them (the filter of an impulse, read backwards)."""
    radius = int(truncate * sigma + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    smooth, second = (
        ndimage.gaussian_filter1d(impulse, sigma, order=order, mode="constant", truncate=truncate)[::-1].copy()
        for order in (0, 2)
    )
    return smooth, second


def laplacian_of_gaussian(image: F64, sigma: float) -> F64:
    """:func:`scipy.ndimage.gaussian_laplace` (``reflect`` edges), bit for bit, with the kernels made once per
    ``sigma``: scipy rebuilds them on every call, which dominates on small cut-outs."""
    smooth, second = _gaussian_kernels(sigma)
    out: F64 = ndimage.correlate1d(image, second, axis=0, mode="reflect")
    ndimage.correlate1d(out, smooth, axis=1, output=out, mode="reflect")
    other = ndimage.correlate1d(image, smooth, axis=0, mode="reflect")
    ndimage.correlate1d(other, second, axis=1, output=other, mode="reflect")
    out += other
    return out


@dataclass(frozen=True)
class NestedFinder:
    """caesar nested-source search parameters (caesar-rest defaults)."""

    source_to_beam_thr: float = 5.0
    min_scale: float = 1.0
    max_scale: float = 3.0
    scale_step: float = 1.0
    peak_zthr: float = 5.0
    merge_zthr: float = 2.5
    min_mother_dist: float = 2.0
    max_mother_pix_match: float = 0.5
    npixmin: int = 5

    def blob_mask(self, cut: F64, beam_pixels: float) -> npt.NDArray[np.bool_]:
        """Multi-scale LoG blob mask of a background-subtracted cut-out (NaN-free): at each scale the
        normalised LoG's significance over its cut-out median and MAD; seeds at its 3×3 maxima above
        ``peak_zthr``, blobs where the largest over the scales reaches ``merge_zthr`` (all scales in one
        array: a big island's cut-out is small and per-call overhead would dominate)."""
        scales = np.arange(self.min_scale, self.max_scale + 1e-9, self.scale_step) * beam_pixels / 2.355
        logs = np.stack([-(sigma**2) * laplacian_of_gaussian(cut, float(sigma)) for sigma in scales])
        flat = logs.reshape(len(scales), -1)
        med = np.median(flat, axis=1)
        mad = 1.4826 * np.median(np.abs(flat - med[:, None]), axis=1)
        good = mad > 0
        if not good.any():
            return np.zeros(cut.shape, bool)
        z = (logs[good] - med[good, None, None]) / mad[good, None, None]
        seeds = ((z == ndimage.maximum_filter(z, size=(1, 3, 3))) & (z >= self.peak_zthr)).any(axis=0)
        zmax = z.max(axis=0)
        labels, n = ndimage.label(zmax >= max(0.0, self.merge_zthr), structure=FOUR_CONNECTIVITY)
        if n == 0:
            return np.zeros(cut.shape, bool)
        has_seed = np.bincount(labels.ravel(), weights=seeds.ravel(), minlength=n + 1) > 0
        big = np.bincount(labels.ravel(), minlength=n + 1) >= self.npixmin
        keep = has_seed & big
        keep[0] = False
        mask: npt.NDArray[np.bool_] = keep[labels]
        return mask

    def find(
        self,
        table: Table,
        pixels: list[IslandPixels],
        *,
        data: npt.NDArray[np.float32],
        level: npt.NDArray[np.float32],
        origin: tuple[int, int],
        beam_pixels: float,
        wcs: WCS,
    ) -> int:
        """Fill ``nested`` and ``nNestedSources`` of big islands in place; returns the number found."""
        found = 0
        limit = math.ceil(self.source_to_beam_thr * float(table["beamArea"][0])) if len(table) else 0
        pad = math.ceil(4 * self.max_scale * beam_pixels / 2.355)
        for row, isl in enumerate(pixels):
            if len(isl.x) <= limit:
                continue
            nested = self._nested_of(table[row], isl, data, level, origin, beam_pixels, pad, wcs)
            table["nested"][row] = nested
            table["nNestedSources"][row] = len(nested)
            found += len(nested)
        logger.debug("%d nested sources", found)
        return found

    def _nested_of(
        self,
        mother: Any,
        isl: IslandPixels,
        data: npt.NDArray[np.float32],
        level: npt.NDArray[np.float32],
        origin: tuple[int, int],
        beam_pixels: float,
        pad: int,
        wcs: WCS,
    ) -> list[dict[str, Any]]:
        ly, lx = isl.y.astype(np.int64) - origin[0], isl.x.astype(np.int64) - origin[1]
        y0, y1 = max(0, ly.min() - pad), min(data.shape[0], ly.max() + pad + 1)
        x0, x1 = max(0, lx.min() - pad), min(data.shape[1], lx.max() + pad + 1)
        cut = np.nan_to_num((data[y0:y1, x0:x1] - level[y0:y1, x0:x1]).astype(np.float64))
        inside = np.zeros(cut.shape, bool)
        inside[ly - y0, lx - x0] = True
        labels, n = ndimage.label(inside & self.blob_mask(cut, beam_pixels), structure=FOUR_CONNECTIVITY)
        out = []
        for lab in range(1, n + 1):
            yy, xx = np.nonzero(labels == lab)
            if yy.size < self.npixmin:
                continue
            lev = level[y0:y1, x0:x1][yy, xx].astype(np.float64)
            out.append(_record(yy, xx, cut, labels == lab, (y0 + origin[0], x0 + origin[1]), isl, mother, wcs, lev))
        if len(out) == 1:
            c = out[0]
            far = abs(c["x"] - float(mother["x"])) > self.min_mother_dist or abs(c["y"] - float(mother["y"])) > (
                self.min_mother_dist
            )
            if not (far or c["npix"] < self.max_mother_pix_match * float(mother["npix"])):
                return []
        return out


def _record(
    yy: npt.NDArray[np.intp],
    xx: npt.NDArray[np.intp],
    cut: F64,
    mask: npt.NDArray[np.bool_],
    corner: tuple[int, int],
    isl: IslandPixels,
    mother: Any,
    wcs: WCS,
    bkg: F64,
) -> dict[str, Any]:
    """Island columns of one nested source (full-image pixel coordinates), and its pixels' positions
    (``pixel_xy``: the fitting stage fits a nested source on them when its mother is not fittable)."""
    vals = cut[yy, xx]
    gx, gy = xx + corner[1], yy + corner[0]
    own = isl.part(np.column_stack([gx, gy]))
    stot = float(vals.sum())
    x, y = float(gx.mean()), float(gy.mean())
    xw = float((vals * gx).sum() / stot) if stot else x
    yw = float((vals * gy).sum() / stot) if stot else y
    box = (int(gx.min()), int(gx.max()), int(gy.min()), int(gy.max()))
    world = wcs.wcs_pix2world([x, xw, box[0], box[1]], [y, yw, box[2], box[3]], 0)
    rec: dict[str, Any] = {name: 0 for name, _ in CAESAR_COLUMNS}
    rec.update(
        {
            "iauName": iau_name(float(world[0][0]), float(world[1][0])), "npix": int(yy.size),
            "x": x, "y": y, "x_w": xw, "y_w": yw, "x_wcs(deg)": float(world[0][0]), "y_wcs(deg)": float(world[1][0]),
            "x_w_wcs(deg)": float(world[0][1]), "y_w_wcs(deg)": float(world[1][1]),
            "xmin": box[0], "xmax": box[1], "ymin": box[2], "ymax": box[3],
            "xmin_wcs(deg)": float(world[0][2]), "xmax_wcs(deg)": float(world[0][3]),
            "ymin_wcs(deg)": float(world[1][2]), "ymax_wcs(deg)": float(world[1][3]),
            "nu(GHz)": float(mother["nu(GHz)"]), "Stot(Jy/beam)": stot, "Smax(Jy/beam)": float(vals.max()),
            "S(Jy)": 0.0, "Serr(Jy)": 0.0, "beamArea": float(mother["beamArea"]),
            "bkgSum(Jy/beam)": float(bkg.sum()), "rmsSum(Jy/beam)": float(own.rms.sum()), "morphId": 1,
            "sourcenessId": 2, "isGoodSource": 1, "sourceNestedLevel": 1, "flux_jy": stot / float(mother["beamArea"]),
            "zmax": float(own.z.max()), "edge": bool(mother["edge"]), "scan_x": int(gx.min()), "scan_y": 0,
            "contour": trace_boundary(mask[box[2] - corner[0] : box[3] - corner[0] + 1, box[0] - corner[1] : box[1] - corner[1] + 1])
            + np.array([box[0], box[2]], np.int32),
            "components": [], "nested": [], "pixel_xy": np.column_stack([gx, gy]).astype(np.int32),
        }
    )  # fmt: skip
    return rec
