"""caesar's global thresholds of a map (``Image::FindOptimalGlobalThreshold``, ``FindMedianThreshold``).

A map is given as distinct values and their pixel counts (the saliency maps are piecewise constant).
``median`` threshold = ``factor × median``; ``optimal`` = ``max(min(Otsu, valley), factor × median)`` on a
100-bin histogram between the minimum and the maximum (the maximum itself falls in ROOT's overflow bin).
The valley is the first bin ≥ 3 that is a maximum of the inverted (optionally smoothed) histogram over
``[i − 3, i + 2]`` (caesar dilates with kernels 3, 5, 7 over ``[i − k//2, i + k//2)``), 0 if none. ROOT's
``TH1::Smooth`` (353QH) is approximated by a median of 3 followed by a Hanning pass.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["optimal_threshold", "weighted_median"]

F64 = npt.NDArray[np.float64]

HIST_BINS = 100


def weighted_median(values: F64, weights: F64) -> float:
    """Median of ``values`` repeated ``weights`` times (the lower middle value for an even total)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    if cum.size == 0 or cum[-1] <= 0:
        return 0.0
    return float(values[order][min(int(np.searchsorted(cum, 0.5 * cum[-1])), cum.size - 1)])


def _smooth_histogram(h: F64) -> F64:
    """Median of 3 then a Hanning (¼, ½, ¼) pass, ends kept: a simple stand-in for ROOT's ``TH1::Smooth``."""
    if h.size < 3:
        return h.copy()
    med = h.copy()
    med[1:-1] = np.median(np.stack([h[:-2], h[1:-1], h[2:]]), axis=0)
    out = med.copy()
    out[1:-1] = 0.25 * med[:-2] + 0.5 * med[1:-1] + 0.25 * med[2:]
    return out


def _otsu(centres: F64, h: F64) -> float:
    total = h.sum()
    if total <= 0:
        return 0.0
    p = h / total
    w_b = np.cumsum(p)
    sum_b = np.cumsum(p * centres)
    w_f = 1.0 - w_b
    ok = (w_b > 0) & (w_f > 1e-12)
    if not ok.any():
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w_b * w_f * (sum_b / w_b - (sum_b[-1] - sum_b) / w_f) ** 2
    between[~ok] = -1.0
    return float(centres[int(np.argmax(between))])


def _valley(centres: F64, h: F64, smooth: bool) -> float:
    """caesar ``FindValleyThreshold``: first bin ≥ 3 that is a maximum of the inverted histogram over [i−3, i+2]."""
    inv = -(_smooth_histogram(h) if smooth else h)
    inv = inv - inv.min() + 1e-6
    n = inv.size
    for i in range(3, n):
        if inv[i] >= inv[i - 3 : min(n, i + 3)].max():
            return float(centres[i])
    return 0.0


def optimal_threshold(
    values: F64, weights: F64, factor: float, *, optimal: bool = True, smooth: bool = True, nbins: int = HIST_BINS
) -> float:
    """caesar's global threshold of a map given as distinct values and their pixel counts.

    ``factor × median``, or with ``optimal`` ``max(min(Otsu, valley), factor × median)`` on an
    ``nbins`` histogram between the minimum and maximum (the maximum itself falls in ROOT's overflow bin).
    """
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if values.size == 0:
        return math.inf
    median_thr = factor * weighted_median(values, weights)
    if not optimal:
        return median_thr
    lo, hi = float(values.min()), float(values.max())
    if not hi > lo:
        return median_thr
    inside = values < hi
    h, edges = np.histogram(values[inside], bins=nbins, range=(lo, hi), weights=weights[inside])
    centres = 0.5 * (edges[:-1] + edges[1:])
    h = h.astype(np.float64)
    return max(min(_otsu(centres, h), _valley(centres, h, smooth)), median_thr)
