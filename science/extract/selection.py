"""caesar's compact-source selection (``selectsources``; ``SFinder::SelectSources``), after the compact search.

A source is *bad* (dropped, nested sources too) when its contour's minimum-area bounding rectangle is
thinner than ``minboundingbox`` pixels: line-like blobs. A good one is tagged POINT-LIKE (``morphId`` 2)
when every enabled cut passes: contour circularity ``4πA/P²`` at least ``circratiothr``, elongation
``1 − BBmin/BBmaj`` at most ``elongationthr``, at most ``nbeamsthr`` beams, at most ``maxnpix`` pixels.
Contours are the traced island boundaries (OpenCV ``findContours`` points in caesar), with ``A`` the
polygon area, ``P`` the closed polygon length and the bounding rectangle OpenCV's ``minAreaRect`` of the
points (rotating calipers on their convex hull). With ``ellipsearearatiocut`` (off by default) a POINT-LIKE
source's contour area must also be within [``ellipsearearatiominthr``, ``ellipsearearatiomaxthr``] times that
of the ellipse fitted to the contour points (caesar's ``Contour::EllipseFitter``: the direct least-squares
conic fit of Fitzgibbon et al. in Halíř & Flusser's form, centred on the points' range); a contour with fewer
than six points, or whose fit is no real ellipse, passes.
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

__all__ = ["POINT_LIKE", "SourceSelection", "contour_shape", "ellipse_semi_axes"]


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


def ellipse_semi_axes(points: npt.NDArray[np.float64]) -> tuple[float, float] | None:
    """Semi-axes of the ellipse fitted to ``points`` as caesar fits a contour, or None where caesar's fit fails."""
    if len(points) < 6:
        return None
    centre = (points.min(axis=0) + points.max(axis=0)) / 2.0
    x, y = (points - centre).T
    d1 = np.column_stack([x * x, x * y, y * y])
    d2 = np.column_stack([x, y, np.ones_like(x)])
    s1, s2, s3 = d1.T @ d1, d1.T @ d2, d2.T @ d2
    if np.linalg.det(s3) == 0.0:
        return None
    t = -np.linalg.inv(s3) @ s2.T
    m = s1 + s2 @ t
    m = np.array([m[2] / 2.0, -m[1], m[0] / 2.0])  # premultiplied by the inverse constraint matrix
    values, vectors = np.linalg.eig(m)
    if np.any(np.imag(values) != 0.0):
        return None
    vectors = np.real(vectors)
    good = 4.0 * vectors[0] * vectors[2] - vectors[1] ** 2 > 0.0
    if not good.any():
        return None
    a1 = vectors[:, int(np.argmax(good))]
    a2 = t @ a1
    a, b, c, d, f, g = a1[0], a1[1] / 2.0, a1[2], a2[0] / 2.0, a2[1] / 2.0, a2[2]
    j = b * b - a * c
    delta = a * f * f + c * d * d + j * g - 2.0 * b * d * f
    i = -(a + c)
    if not (delta != 0.0 and j < 0.0 and i != 0.0 and delta / i < 0.0):
        return None
    root = math.sqrt((a - c) ** 2 + 4.0 * b * b)
    return math.sqrt(2.0 * delta / j / (i + root)), math.sqrt(2.0 * delta / j / (i - root))


def contour_shape(contour: npt.ArrayLike) -> dict[str, float]:
    """caesar's contour parameters: ``circularity`` (4πA/P², NaN without a perimeter), ``bbox_min``,
    ``bbox_max`` (sides of the minimum-area rectangle), ``elongation`` (1 − min/max, NaN when max is 0) and
    ``ellipse_area_ratio`` (A over the fitted ellipse's area, NaN without a fit)."""
    pts = np.asarray(contour, np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return dict.fromkeys(("circularity", "bbox_min", "bbox_max", "elongation", "ellipse_area_ratio"), math.nan)
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    perimeter = float(np.hypot(*(np.roll(pts, -1, axis=0) - pts).T).sum())
    short, long = _min_area_rect(pts)
    axes = ellipse_semi_axes(pts)
    return {
        "circularity": 4.0 * math.pi * area / perimeter**2 if perimeter > 0 else math.nan,
        "bbox_min": short,
        "bbox_max": long,
        "elongation": 1.0 - short / long if long > 0 else math.nan,
        "ellipse_area_ratio": area / (math.pi * axes[0] * axes[1]) if axes and axes[0] * axes[1] > 0 else math.nan,
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
    ellipse_area_ratio_cut: bool = False  # (ellipsearearatiocut)
    ellipse_area_ratio_range: tuple[float, float] = (0.6, 1.4)  # (ellipsearearatiominthr, …maxthr)

    def is_good(self, shape: dict[str, float]) -> bool:
        """Not line-like: the bounding rectangle is at least ``min_bounding_box`` pixels thick."""
        return not (self.bounding_box_cut and shape["bbox_min"] < self.min_bounding_box)

    def is_point_like(self, shape: dict[str, float], npix: int, beam_area: float) -> bool:
        """Every enabled point-like cut passes (a NaN parameter fails no cut, as in caesar)."""
        if self.circ_ratio_cut and shape["circularity"] < self.circ_ratio_thr:
            return False
        if self.elongation_cut and shape["elongation"] > self.elongation_thr:
            return False
        low, high = self.ellipse_area_ratio_range
        ratio = shape.get("ellipse_area_ratio", math.nan)
        if self.ellipse_area_ratio_cut and (ratio < low or ratio > high):
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
