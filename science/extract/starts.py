"""Seed peaks and fit start values of many islands at once (the deblending seeds of caesar ``SourceFitter``).

A seed peak is an island pixel that is the maximum of its ``k × k`` neighbourhood *inside its island*
(pixels outside count as −∞) for the smallest dilation kernel ``k`` of caesar's ``fit-peakminkern …
fit-peakmaxkern`` (odd sizes), found within ``shift_tol`` px by at least ``multiplicity`` of the kernels
(caesar ``fit-peakmultiplicitythr``, default 1: any kernel; −1: all of them), with significance
``z ≥ zthr``; an island keeps its brightest ``max_components`` peaks, and the brightest pixel when none
qualifies.

Start values: one peak → amplitude = peak, centre = flux-weighted centroid, σ and θ from the second
moments of the positive pixels, corrected for the truncation at the island's edge level and never
below the beam; several peaks → amplitude = peak value, centre = peak pixel, σ and θ of the beam.

Everything is computed on the islands' pixels concatenated: segment sums for the moments, and one
maximum filter per group of islands whose bounding boxes fit the same padded square. Bounds around the
start values: :class:`FitLimits`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from science.extract.islands import IslandPixels

__all__ = ["SIGMA_FLOOR", "FitLimits", "Seeds", "beam_starts", "island_seeds", "moment_starts"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Seeds:
    """Seed peaks of ``G`` islands: flat arrays of ``value``, ``x``, ``y`` with ``bounds[g]:bounds[g+1]`` island g's.

    Peaks of one island are brightest first (ties in pixel order).
    """

    def __init__(self, value: F64, x: F64, y: F64, bounds: I64) -> None:
        self.value, self.x, self.y, self.bounds = value, x, y, bounds

    def count(self) -> I64:
        """Number of peaks per island."""
        counts: I64 = np.diff(self.bounds)
        return counts

    def of(self, g: int) -> list[tuple[float, float, float]]:
        """``(value, x, y)`` of island ``g``'s peaks."""
        a, b = int(self.bounds[g]), int(self.bounds[g + 1])
        return list(zip(self.value[a:b].tolist(), self.x[a:b].tolist(), self.y[a:b].tolist(), strict=True))


def _concat(islands: Sequence[IslandPixels]) -> tuple[I64, I64, F64, F64, F64, F64]:
    sizes = np.fromiter((len(isl.x) for isl in islands), np.int64, len(islands))
    starts = np.zeros(len(islands), np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    x = np.concatenate([isl.x for isl in islands])
    y = np.concatenate([isl.y for isl in islands])
    value = np.concatenate([isl.value for isl in islands])
    z = np.concatenate([isl.z for isl in islands])
    return sizes, starts, x, y, value, z


def _peaks(
    ix: I64,
    iy: I64,
    value: F64,
    owner: I64,
    starts: I64,
    sizes: I64,
    kernels: Sequence[int],
    multiplicity: int,
    shift_tol: int,
) -> npt.NDArray[np.bool_]:
    """Pixels that are peaks of the smallest kernel, found (within ``shift_tol``) by ``multiplicity`` kernels."""
    n_isl = sizes.size
    x0 = np.minimum.reduceat(ix, starts)
    y0 = np.minimum.reduceat(iy, starts)
    side = np.maximum(np.maximum.reduceat(ix, starts) - x0, np.maximum.reduceat(iy, starts) - y0) + 1
    # Pad every box to the next of a few square sides: one filter call per side.
    sides = 1 << np.ceil(np.log2(np.maximum(side, 1))).astype(np.int64)
    kernels = sorted(kernels)
    need = len(kernels) if multiplicity < 0 else min(multiplicity, len(kernels))
    r = np.arange(-shift_tol, shift_tol + 1)
    disk = (r[:, None] ** 2 + r[None, :] ** 2 <= shift_tol**2)[None]
    peak = np.zeros(value.size, bool)
    lx, ly = ix - x0[owner], iy - y0[owner]
    for s in np.unique(sides).tolist():
        members = np.flatnonzero(sides == s)
        slot = np.full(n_isl, -1, np.int64)
        slot[members] = np.arange(members.size)
        pix = np.flatnonzero(slot[owner] >= 0)
        at = (slot[owner[pix]], ly[pix], lx[pix])
        grid = np.full((members.size, s, s), -np.inf)
        grid[at] = value[pix]
        inside = np.isfinite(grid)
        count = np.zeros(grid.shape, np.int64)
        first = None
        for k in kernels if need > 1 else kernels[:1]:
            filtered = ndimage.maximum_filter(grid, size=(1, k, k), mode="constant", cval=-np.inf)
            is_peak = inside & (grid >= filtered)
            first = is_peak if first is None else first
            count += ndimage.maximum_filter(is_peak, footprint=disk, mode="constant", cval=False)
        assert first is not None
        peak[pix] = (first & (count >= need))[at]
    return peak


def island_seeds(
    islands: Sequence[IslandPixels],
    *,
    kernels: Sequence[int] = (3, 5, 7),
    multiplicity: int = 1,
    shift_tol: int = 2,
    zthr: float,
    max_components: int,
) -> Seeds:
    """Seed peaks of every island (see the module docstring)."""
    if not islands:
        empty = np.empty(0)
        return Seeds(empty, empty, empty, np.zeros(1, np.int64))
    sizes, starts, x, y, value, z = _concat(islands)
    owner = np.repeat(np.arange(sizes.size), sizes)
    ix, iy = x.astype(np.int64), y.astype(np.int64)
    is_peak = _peaks(ix, iy, value, owner, starts, sizes, kernels, multiplicity, shift_tol) & (z >= zthr)
    # The brightest pixel of an island with no qualifying peak stands in for one.
    has_peak = np.bincount(owner[is_peak], minlength=sizes.size) > 0
    brightest = starts + _segment_argmax(value, owner, starts, sizes.size)
    is_peak[brightest[~has_peak]] = True
    idx = np.flatnonzero(is_peak)
    order = np.lexsort((idx, -value[idx], owner[idx]))
    idx = idx[order]
    first = np.searchsorted(owner[idx], np.arange(sizes.size))
    rank = np.arange(idx.size) - first[owner[idx]]
    idx = idx[rank < max_components]
    bounds = np.searchsorted(owner[idx], np.arange(sizes.size + 1))
    return Seeds(value[idx], x[idx], y[idx], bounds.astype(np.int64))


def _segment_argmax(value: F64, owner: I64, starts: I64, n: int) -> I64:
    """Offset of the first maximum of each segment from its start."""
    top = np.maximum.reduceat(value, starts)
    hit = np.flatnonzero(value == top[owner])
    first = np.full(n, -1, np.int64)
    # Hits are in increasing pixel order: the first hit of a segment wins when written last in reverse.
    first[owner[hit[::-1]]] = hit[::-1]
    offsets: I64 = first - starts
    return offsets


def moment_starts(islands: Sequence[IslandPixels], beam: tuple[float, float, float]) -> F64:
    """``(G, 6)`` single-component start values ``(A, x0, y0, σmaj, σmin, θ)`` from the pixel moments."""
    sizes, starts, x, y, value, _ = _concat(islands)
    owner = np.repeat(np.arange(sizes.size), sizes)
    w = np.clip(value, 0.0, None)
    wsum = np.add.reduceat(w, starts)
    amp = np.maximum.reduceat(value, starts)
    vmin = np.minimum.reduceat(value, starts)
    positive = wsum > 0
    safe = np.where(positive, wsum, 1.0)
    xc = np.add.reduceat(w * x, starts) / safe
    yc = np.add.reduceat(w * y, starts) / safe
    dx, dy = x - xc[owner], y - yc[owner]
    cxx = np.add.reduceat(w * dx * dx, starts) / safe
    cyy = np.add.reduceat(w * dy * dy, starts) / safe
    cxy = np.add.reduceat(w * dx * dy, starts) / safe
    # Eigen-decomposition of the 2 × 2 moment matrix in closed form; θ is the major axis from +x.
    mean, half_diff = 0.5 * (cxx + cyy), 0.5 * (cxx - cyy)
    radius = np.hypot(half_diff, cxy)
    major, minor = mean + radius, mean - radius
    theta = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip(vmin / np.where(positive, amp, 1.0), 1e-3, 0.9)
    lnf = -np.log(frac)
    shrink = np.sqrt(np.maximum(1.0 - lnf * frac / (1.0 - frac), 0.05))
    smaj = np.maximum(np.sqrt(np.maximum(major, 1e-6)) / shrink, beam[0])
    smin = np.maximum(np.sqrt(np.maximum(minor, 1e-6)) / shrink, beam[1])
    out = np.column_stack([amp, xc, yc, smaj, smin, theta])
    # Islands with no positive pixel: mean position and the beam.
    flat = ~positive
    if flat.any():
        counts = np.where(sizes > 0, sizes, 1)
        out[flat, 1] = (np.add.reduceat(x, starts) / counts)[flat]
        out[flat, 2] = (np.add.reduceat(y, starts) / counts)[flat]
        out[flat, 3:] = beam
    result: F64 = out
    return result


def beam_starts(seeds: Seeds, g: int, beam: tuple[float, float, float]) -> F64:
    """Multi-component start values of island ``g``: one beam-shaped component per peak."""
    a, b = int(seeds.bounds[g]), int(seeds.bounds[g + 1])
    k = b - a
    out = np.empty((k, 6))
    out[:, 0], out[:, 1], out[:, 2] = seeds.value[a:b], seeds.x[a:b], seeds.y[a:b]
    out[:, 3:] = beam
    flat: F64 = out.ravel()
    return flat


@dataclass(frozen=True)
class FitLimits:
    """caesar's parameter bounds around the start values: amplitude ±``ampl`` (relative), centre ±``pos`` px,
    σ ±``sigma`` (relative), θ ±``theta`` (radians); the groups named in ``unbounded`` (``ampl``, ``pos``,
    ``sigma``, ``theta``: caesar's ``fit-no<group>limits``) are free (σ kept ≥ :data:`SIGMA_FLOOR`), and ``fix_sigma`` /
    ``fix_theta`` hold σ / θ at their start values (``fit-fixsigma``, ``fit-fixtheta``)."""

    ampl: float = 0.3
    pos: float = 3.0
    sigma: float = 0.3
    theta: float = math.pi / 2
    unbounded: frozenset[str] = frozenset()
    fix_sigma: bool = False
    fix_theta: bool = False
    #: Step of the bound widening of each retry (``fit-parboundincreasestep``).
    step: float = 0.1

    def bounds(self, comp: F64, hold: frozenset[str] = frozenset()) -> tuple[F64, F64]:
        """``(lo, hi)`` of components ``(n, 6)`` of start values, same shape; the groups in ``hold`` held at
        their start values (caesar's pre-fit, :func:`science.extract.solving.prefit`)."""
        spread = np.column_stack(
            [
                comp[:, 0] * self.ampl,
                np.full(len(comp), self.pos),
                np.full(len(comp), self.pos),
                comp[:, 3] * self.sigma,
                comp[:, 4] * self.sigma,
                np.full(len(comp), self.theta),
            ]
        )
        lo, hi = comp - spread, comp + spread
        for group in self.unbounded:
            cols = _GROUPS[group]
            lo[:, cols] = SIGMA_FLOOR if group == "sigma" else -np.inf
            hi[:, cols] = np.inf
        if self.fix_sigma:
            lo[:, 3:5] = hi[:, 3:5] = comp[:, 3:5]
        if self.fix_theta:
            lo[:, 5] = hi[:, 5] = comp[:, 5]
        for group in hold:
            cols = _GROUPS[group]
            lo[:, cols] = hi[:, cols] = comp[:, cols]
        return lo, hi


#: Smallest σ (px) of a fit without σ bounds (a zero σ divides by zero).
SIGMA_FLOOR = 0.01
#: Parameter columns of each bound group.
_GROUPS = {"ampl": [0], "pos": [1, 2], "sigma": [3, 4], "theta": [5]}
