"""caesar's compact-source selection (``selectsources``; ``SFinder::SelectSources``), after the compact search.

A source is *bad* (dropped, nested sources too) when its contour's minimum-area bounding rectangle is
thinner than ``minboundingbox`` pixels: line-like blobs. A good one is tagged POINT-LIKE (``morphId`` 2)
when every enabled cut passes: contour circularity ``4πA/P²`` at least ``circratiothr``, elongation
``1 − BBmin/BBmaj`` at most ``elongationthr``, at most ``nbeamsthr`` beams, at most ``maxnpix`` pixels.
Contours are the traced island boundaries (OpenCV ``findContours`` points in caesar), with ``A`` the
polygon area, ``P`` the closed polygon length and the bounding rectangle OpenCV's ``minAreaRect`` of the
points (rotating calipers on their convex hull). caesar's ellipse-area-ratio cut (``ellipsearearatiocut``,
off by default) is not implemented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.table import Table

from science.extract.extended import POINT_LIKE
from science.extract.islands import IslandPixels

__all__ = ["POINT_LIKE", "SourceSelection", "contour_shape"]


def _min_area_rect(points: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Sides ``(short, long)`` of the smallest-area rectangle around ``points`` (OpenCV ``minAreaRect``)."""
    from scipy.spatial import ConvexHull, QhullError

    pts = np.unique(points, axis=0)
    if len(pts) == 1:
        return 0.0, 0.0
    try:
        hull = pts[ConvexHull(pts).vertices] if len(pts) > 2 else pts
    except QhullError:  # all on one line
        hull = pts
    edges = np.diff(np.vstack([hull, hull[:1]]), axis=0)
    angles = np.arctan2(edges[:, 1], edges[:, 0])
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    u = hull[:, 0] * c + hull[:, 1] * s  # hull in the frame of every edge direction
    v = -hull[:, 0] * s + hull[:, 1] * c
    w, h = np.ptp(u, axis=1), np.ptp(v, axis=1)
    best = int(np.argmin(w * h))
    return float(min(w[best], h[best])), float(max(w[best], h[best]))


def contour_shape(contour: npt.ArrayLike) -> dict[str, float]:
    """caesar's contour parameters: ``circularity`` (4πA/P², NaN without a perimeter), ``bbox_min``,
    ``bbox_max`` (sides of the minimum-area rectangle) and ``elongation`` (1 − min/max, NaN when max is 0)."""
    pts = np.asarray(contour, np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return {"circularity": math.nan, "bbox_min": math.nan, "bbox_max": math.nan, "elongation": math.nan}
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    perimeter = float(np.hypot(*(np.roll(pts, -1, axis=0) - pts).T).sum())
    short, long = _min_area_rect(pts)
    return {
        "circularity": 4.0 * math.pi * area / perimeter**2 if perimeter > 0 else math.nan,
        "bbox_min": short,
        "bbox_max": long,
        "elongation": 1.0 - short / long if long > 0 else math.nan,
    }


@dataclass(frozen=True)
class SourceSelection:
    """caesar's selection cuts (caesar-rest option names in brackets; defaults as caesar-rest's)."""

    bounding_box_cut: bool = True  # (no-boundingboxcut)
    min_bounding_box: float = 2.0  # (minboundingbox)
    circ_ratio_cut: bool = True  # (no-circratiocut)
    circ_ratio_thr: float = 0.4  # (circratiothr)
    elongation_cut: bool = True  # (no-elongationcut)
    elongation_thr: float = 0.7  # (elongationthr)
    max_npix_cut: bool = False  # (maxnpixcut)
    max_npix: int = 1000  # (maxnpix)
    nbeams_cut: bool = True  # (no-nbeamscut)
    nbeams_thr: float = 3.0  # (nbeamsthr)

    def is_good(self, shape: dict[str, float]) -> bool:
        """Not line-like: the bounding rectangle is at least ``min_bounding_box`` pixels thick."""
        return not (self.bounding_box_cut and shape["bbox_min"] < self.min_bounding_box)

    def is_point_like(self, shape: dict[str, float], npix: int, beam_area: float) -> bool:
        """Every enabled point-like cut passes (a NaN parameter fails no cut, as in caesar)."""
        if self.circ_ratio_cut and shape["circularity"] < self.circ_ratio_thr:
            return False
        if self.elongation_cut and shape["elongation"] > self.elongation_thr:
            return False
        if self.nbeams_cut and beam_area > 0 and npix / beam_area > self.nbeams_thr:
            return False
        return not (self.max_npix_cut and npix > self.max_npix)

    def apply(self, table: Table, pixels: list[IslandPixels]) -> tuple[Table, list[IslandPixels]]:
        """The good islands (renamed ``S1…Sn``, in order) and their pixels; POINT-LIKE ones tagged, nested
        sources selected the same way."""
        keep = []
        for row in range(len(table)):
            shape = contour_shape(table["contour"][row])
            if not self.is_good(shape):
                continue
            area = float(table["beamArea"][row])
            if self.is_point_like(shape, int(table["npix"][row]), area):
                table["morphId"][row] = POINT_LIKE
            nested = [n for n in table["nested"][row] if self._select_nested(n, area)]
            table["nested"][row] = nested
            table["nNestedSources"][row] = len(nested)
            keep.append(row)
        out = table[keep]
        out["name"] = [f"S{k + 1}" for k in range(len(out))]
        return out, [pixels[i] for i in keep]

    def _select_nested(self, nested: dict[str, Any], beam_area: float) -> bool:
        shape = contour_shape(nested["contour"])
        if not self.is_good(shape):
            return False
        if self.is_point_like(shape, int(nested["npix"]), beam_area):
            nested["morphId"] = POINT_LIKE
        return True
