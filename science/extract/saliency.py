"""Multi-scale saliency mask of caesar's SALIENCY-THRESH extended-source search (``SaliencyFilter``, §8).

On the (pre-smoothed, see :mod:`science.extract.smoothing`) search image:

1. **Superpixels** per scale ``reso`` in ``min_reso … max_reso step reso_step``: a regular grid of blocks of
   about ``reso × reso`` pixels (caesar: SLIC superpixels, ``sp-beta``/``sp-minarea``). Every scale is then
   a coarsening of one common partition into *cells* (the union of all block edges, ≥ 10 px at caesar-rest
   defaults), and everything after the block means runs on cells, not pixels.
2. **Saliency** per scale: block means μ, centres c; ``d_ij = (|μi − μj| / R) / (1 + ds_ij)`` with ``R`` the
   range of μ and ``ds`` the centre distance scaled to [0, 1] by its minimum and maximum over block pairs;
   ``D_ij = exp(−100 d_ij)``; ``S_i`` = mean of ``D_ij`` over the ``KNN = max(10, round(nn·N))`` least
   similar blocks (smallest D, ``j = i`` included); saliency ``1 − (S − Smin)/(Smax − Smin)`` scaled to
   [1, 256]. Exact up to :data:`EXACT_MAX_REGIONS` blocks; above, the sums run on a histogram of μ
   (:data:`COLOUR_BINS` bins) per coarse spatial cell (8 × 8 cells of the block grid, 5 levels of the
   spatial factor, linear interpolation), which is O(N) instead of O(N²). caesar's colour distance is
   offset by its minimum over pairs (≈ 0), taken as 0 here.
3. **Per-scale threshold**: "optimal" ``max(min(Otsu, valley), f·median)`` on a 100-bin histogram, or
   ``f·median``, ``f = saliency-thr``.
4. **Combination** per pixel: salient at ≥ ``round(0.7·nScales)`` scales → the maximum over scales where
   the search image is above its median, else the minimum of the mean map; otherwise the minimum over
   scales. Optionally plus the background and rms maps scaled to [1, 256] (their cell means here). The
   result is scaled to [1, 256].
5. **Final threshold**: optimal with a smoothed 100-bin histogram (a median-of-3 + Hanning smoothing in
   place of ROOT's 353QH), or ``f·median`` → the mask, on which the caller flood-fills sources.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from science.extract.thresholds import optimal_threshold

__all__ = [
    "COLOUR_BINS",
    "EXACT_MAX_REGIONS",
    "SaliencyMask",
    "block_edges",
    "region_saliency",
    "saliency_mask",
]

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B8 = npt.NDArray[np.bool_]

#: caesar ``saliencyDissExpFalloffPar``: ``D = exp(−ALPHA·d)``.
ALPHA = 100.0
#: caesar ``saliencyMultiResoCombThrFactor``: a pixel is salient when salient at this fraction of the scales.
MULTI_RESO_FRACTION = 0.7
#: Up to this many blocks the dissimilarity sums are exact (N² pairs); above, binned.
EXACT_MAX_REGIONS = 2500
#: Colour (block mean) bins of the binned sums.
COLOUR_BINS = 1024
_SPATIAL_CELLS = 8
_SPATIAL_LEVELS = 5
_MEDIAN_SAMPLE = 1 << 20


def block_edges(n: int, size: int) -> I64:
    """Edges of ``max(1, round(n / size))`` nearly equal blocks covering ``[0, n)``."""
    nb = max(1, math.floor(n / size + 0.5))
    edges: I64 = np.unique(np.round(np.linspace(0, n, nb + 1)).astype(np.int64))
    return edges


def _cell_sums(x: npt.NDArray[np.generic], ey: I64, ex: I64) -> F64:
    """Sums of ``x`` over the cells ``[ey[k]:ey[k+1], ex[l]:ex[l+1]]`` (row blocks first: fast, contiguous)."""
    rows = np.empty((len(ey) - 1, x.shape[1]), np.float64)
    for k in range(len(ey) - 1):
        np.add.reduce(x[ey[k] : ey[k + 1]], axis=0, out=rows[k], dtype=np.float64)
    out: F64 = np.add.reduceat(rows, ex[:-1], axis=1)
    return out


def _scaled(values: F64, valid: B8, lo: float = 1.0, hi: float = 256.0) -> F64:
    """Linear map of the valid values onto [lo, hi] (all ``lo`` when constant)."""
    out = np.full(values.shape, lo)
    if not valid.any():
        return out
    vmin, vmax = float(values[valid].min()), float(values[valid].max())
    if vmax > vmin:
        out[valid] = lo + (hi - lo) * (values[valid] - vmin) / (vmax - vmin)
    return out


def region_saliency(mu: F64, cy: F64, cx: F64, knn_factor: float, *, exact: bool | None = None) -> F64:
    """Saliency in [0, 1] of blocks with means ``mu`` and centres ``(cy, cx)`` (flat arrays; see module doc).

    ``exact`` forces the O(N²) or the binned sums (default: exact up to :data:`EXACT_MAX_REGIONS`).
    """
    n = mu.size
    if n < 2 or not float(mu.max()) > float(mu.min()):
        return np.zeros(n)
    knn = min(n, max(10, math.floor(knn_factor * n + 0.5)))
    u = (mu - mu.min()) / (mu.max() - mu.min())
    exact = n <= EXACT_MAX_REGIONS if exact is None else exact
    s = _sums_exact(u, cy, cx, knn) if exact else _sums_binned(u, cy, cx, knn)
    if not float(s.max()) > float(s.min()):
        return np.zeros(n)
    out: F64 = 1.0 - (s - s.min()) / (s.max() - s.min())
    return out


def _distance_range(cy: F64, cx: F64) -> tuple[float, float]:
    """Minimum and maximum distance between distinct centres of a (possibly gappy) block grid."""
    steps = [np.diff(np.unique(c)) for c in (cy, cx)]
    dmin = min((float(s.min()) for s in steps if s.size), default=0.0)
    dmax = math.hypot(float(cy.max() - cy.min()), float(cx.max() - cx.min()))
    return dmin, max(dmax, dmin + 1e-9)


def _sums_exact(u: F64, cy: F64, cx: F64, knn: int) -> F64:
    dist = np.hypot(cy[:, None] - cy[None, :], cx[:, None] - cx[None, :])
    dmin, dmax = _distance_range(cy, cx)
    d = np.abs(u[:, None] - u[None, :]) / (1.0 + (dist - dmin) / (dmax - dmin))
    diss = np.exp(-ALPHA * d)
    if knn < u.size:
        diss = np.partition(diss, knn - 1, axis=1)[:, :knn]
    out: F64 = diss.mean(axis=1)
    return out


def _sums_binned(u: F64, cy: F64, cx: F64, knn: int) -> F64:
    """Binned ``Σ_j D_ij`` over the ``knn`` least similar blocks (selected by colour distance), divided by ``knn``."""
    nbins, n = COLOUR_BINS, u.size
    # coarse spatial cells of the block grid and their pairwise spatial factor g = 1 / (1 + ds)
    ky = np.searchsorted(np.quantile(np.unique(cy), np.linspace(0, 1, _SPATIAL_CELLS + 1)[1:-1]), cy, side="right")
    kx = np.searchsorted(np.quantile(np.unique(cx), np.linspace(0, 1, _SPATIAL_CELLS + 1)[1:-1]), cx, side="right")
    cell = ky * _SPATIAL_CELLS + kx
    ncell = _SPATIAL_CELLS * _SPATIAL_CELLS
    count = np.bincount(cell, minlength=ncell).astype(np.float64)
    safe = np.maximum(count, 1.0)
    my, mx = np.bincount(cell, cy, ncell) / safe, np.bincount(cell, cx, ncell) / safe
    sy = np.sqrt(np.maximum(np.bincount(cell, cy**2, ncell) / safe - my**2, 0.0))
    sx = np.sqrt(np.maximum(np.bincount(cell, cx**2, ncell) / safe - mx**2, 0.0))
    dist = np.hypot(my[:, None] - my[None, :], mx[:, None] - mx[None, :])
    # same cell: mean distance of two uniform points in a box of side √12·σ ≈ 0.52 × side
    np.fill_diagonal(dist, 0.5214 * math.sqrt(12.0) * np.sqrt(sy * sx))
    dmin, dmax = _distance_range(cy, cx)
    g = 1.0 / (1.0 + np.clip((dist - dmin) / (dmax - dmin), 0.0, 1.0))
    levels = np.linspace(0.5, 1.0, _SPATIAL_LEVELS)
    pos = (g - 0.5) / (levels[1] - levels[0])
    low = np.clip(np.floor(pos).astype(np.int64), 0, _SPATIAL_LEVELS - 2)
    frac = pos - low
    weights = np.zeros((_SPATIAL_LEVELS, ncell, ncell))
    ii, jj = np.indices((ncell, ncell))
    weights[low, ii, jj] = 1.0 - frac
    weights[low + 1, ii, jj] += frac
    # colour histogram per cell (linear deposit)
    t = u * (nbins - 1)
    b0 = np.clip(np.floor(t).astype(np.int64), 0, nbins - 2)
    f = t - b0
    hist = (
        np.bincount(cell * nbins + b0, 1.0 - f, ncell * nbins) + np.bincount(cell * nbins + b0 + 1, f, ncell * nbins)
    ).reshape(ncell, nbins)
    width, share = _knn_window(hist.sum(axis=0), n, knn)
    b = np.arange(nbins)
    lo_idx, hi_idx = b - width - 1, b + width + 1
    terms = np.empty((_SPATIAL_LEVELS, ncell, nbins))
    for level, g_level in enumerate(levels):
        lam = ALPHA * g_level / (nbins - 1)
        grow, decay = np.exp(lam * b), np.exp(-lam * b)
        left = np.cumsum(hist * grow, axis=1)
        right = np.cumsum((hist * decay)[:, ::-1], axis=1)[:, ::-1]
        lsum = np.where(lo_idx >= 0, left[:, np.clip(lo_idx, 0, None)] * decay, 0.0)
        rsum = np.where(hi_idx <= nbins - 1, right[:, np.clip(hi_idx, None, nbins - 1)] * grow, 0.0)
        edge = np.where(b - width >= 0, hist[:, np.clip(b - width, 0, None)], 0.0)
        edge += np.where((width > 0) & (b + width <= nbins - 1), hist[:, np.clip(b + width, None, nbins - 1)], 0.0)
        terms[level] = lsum + rsum + share * np.exp(-lam * width) * edge
    table = np.einsum("lij,ljb->ib", weights, terms)
    out: F64 = ((1.0 - f) * table[cell, b0] + f * table[cell, b0 + 1]) / knn
    return out


def _knn_window(counts: F64, n: int, knn: int) -> tuple[I64, F64]:
    """Per colour bin b: the half-width w and share φ such that bins farther than w plus φ of the bins at
    distance w hold ``knn`` blocks (``w = 0, φ = 1`` when ``knn = n``)."""
    nbins = counts.size
    cum = np.concatenate([[0.0], np.cumsum(counts)])  # cum[k] = Σ counts[:k]
    b = np.arange(nbins)

    def outside(w: I64) -> F64:
        total: F64 = cum[np.clip(b - w, 0, nbins)] + (n - cum[np.clip(b + w + 1, 0, nbins)])
        return total

    lo, hi = np.zeros(nbins, np.int64), np.full(nbins, nbins, np.int64)
    while np.any(lo < hi):  # smallest w with outside(w) ≤ knn (outside decreases with w)
        mid = (lo + hi) // 2
        ok = outside(mid) <= knn + 1e-9
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid + 1)
    width = lo
    at = np.where(b - width >= 0, counts[np.clip(b - width, 0, nbins - 1)], 0.0)
    at += np.where((width > 0) & (b + width <= nbins - 1), counts[np.clip(b + width, 0, nbins - 1)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(at > 0, (knn - outside(width)) / at, 0.0)
    return width, np.clip(share, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class SaliencyMask:
    """The thresholded multi-scale saliency: pixel ``mask`` and the final ``threshold`` (on [1, 256])."""

    mask: B8
    threshold: float
    n_scales: int


def saliency_mask(
    search: F32,
    valid: B8,
    *,
    scales: list[int],
    knn_factor: float = 1.0,
    thr_factor: float = 2.8,
    optimal: bool = True,
    robust: bool = False,
    extra_maps: tuple[F32, ...] = (),
) -> SaliencyMask:
    """Threshold the multi-scale saliency of ``search`` (see the module doc).

    Parameters
    ----------
    search
        Search image (smoothed), finite where ``valid``.
    valid
        Pixels to use (caesar: not blank).
    scales
        Superpixel sizes in pixels.
    knn_factor
        ``saliency-nn``: fraction of the blocks, least similar first, averaged in ``S``.
    thr_factor
        ``saliency-thr``.
    optimal
        Optimal thresholds (else ``thr_factor × median``; caesar ``saliency-nooptimalthr``).
    robust
        Block medians instead of means (``saliency-userobustpars``; here the median of the block's cell means).
    extra_maps
        Maps added to the combined saliency after scaling to [1, 256] (background, rms).
    """
    ny, nx = search.shape
    per_scale = [(block_edges(ny, s), block_edges(nx, s)) for s in scales]
    ey = np.unique(np.concatenate([e for e, _ in per_scale]))
    ex = np.unique(np.concatenate([e for _, e in per_scale]))
    all_valid = bool(valid.all())
    filled = search if all_valid else np.where(valid, search, 0).astype(np.float32)
    sums = _cell_sums(filled, ey, ex)
    npix = np.outer(np.diff(ey), np.diff(ex)).astype(np.float64) if all_valid else _cell_sums(valid, ey, ex)
    cell_ok = npix > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cell_mean = np.where(cell_ok, sums / npix, 0.0)
    maps, thresholds = [], []
    for (by, bx), scale in zip(per_scale, scales, strict=True):
        ry = np.searchsorted(by, ey[:-1], side="right") - 1  # block row of each cell row
        rx = np.searchsorted(bx, ex[:-1], side="right") - 1
        shape = (len(by) - 1, len(bx) - 1)
        sy, sx = np.searchsorted(ey, by[:-1]), np.searchsorted(ex, bx[:-1])  # first cell of each block
        block_npix = np.add.reduceat(np.add.reduceat(npix, sy, axis=0), sx, axis=1)
        if robust:
            mu = _block_median(cell_mean, cell_ok, ry, rx, shape)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                mu = np.add.reduceat(np.add.reduceat(sums, sy, axis=0), sx, axis=1) / block_npix
        ok = block_npix > 0
        cy, cx = np.meshgrid(0.5 * (by[:-1] + by[1:]), 0.5 * (bx[:-1] + bx[1:]), indexing="ij")
        sal = np.zeros(shape)
        sal[ok] = region_saliency(mu[ok], cy[ok], cx[ok], knn_factor)
        scaled = _scaled(sal, ok)
        thr = optimal_threshold(scaled[ok], block_npix[ok], thr_factor, optimal=optimal)
        logger.debug("saliency scale %d px: %d blocks, threshold %.3g", scale, int(ok.sum()), thr)
        maps.append(scaled[ry[:, None], rx[None, :]])
        thresholds.append(thr)
    stack = np.stack(maps)
    salient_count = (stack > np.array(thresholds)[:, None, None]).sum(axis=0)
    salient = salient_count >= math.floor(MULTI_RESO_FRACTION * len(scales) + 0.5)
    wmax, wmin = stack.max(axis=0), stack.min(axis=0)
    low = float(stack.mean(axis=0)[cell_ok].min()) if cell_ok.any() else 1.0
    extra = np.zeros(cell_mean.shape)
    for m in extra_maps:
        m_sum = _cell_sums(np.where(valid, m, 0).astype(np.float32), ey, ex)
        with np.errstate(divide="ignore", invalid="ignore"):
            m_mean = np.where(cell_ok, m_sum / npix, 0.0)
        extra += _scaled(m_mean, cell_ok)
    # the excess test: search image above its median (caesar: imgThrFactor = 1)
    excess = (search > _sampled_median(search, valid)) & valid
    n_exc = np.zeros(npix.shape)
    if salient.any():
        n_exc = _cell_sums(excess, ey, ex)
    values = np.concatenate([(wmax + extra).ravel(), (low + extra).ravel(), (wmin + extra).ravel()])
    weights = np.concatenate(
        [
            np.where(salient, n_exc, 0).ravel(),
            np.where(salient, npix - n_exc, 0).ravel(),
            np.where(salient, 0, npix).ravel(),
        ]
    )
    present = weights > 0
    norm = _scaled(values, present)
    thr = optimal_threshold(norm[present], weights[present], thr_factor, optimal=optimal)
    ncell = wmax.size
    on_excess = (norm[:ncell] >= thr).reshape(wmax.shape) & salient
    on_rest = (norm[ncell : 2 * ncell] >= thr).reshape(wmax.shape) & salient
    on_any = (norm[2 * ncell :] >= thr).reshape(wmax.shape) & ~salient
    mask = np.zeros(search.shape, bool)
    if on_excess.any():
        mask |= _expand(on_excess, ey, ex) & excess
    if on_rest.any():
        mask |= _expand(on_rest, ey, ex) & ~excess
    if on_any.any():
        mask |= _expand(on_any, ey, ex)
    mask &= valid
    logger.debug(
        "saliency: %d salient cells, final threshold %.3g, %d pixels", int(salient.sum()), thr, int(mask.sum())
    )
    return SaliencyMask(mask=mask, threshold=thr, n_scales=len(scales))


def _expand(cells: B8, ey: I64, ex: I64) -> B8:
    out: B8 = np.repeat(np.repeat(cells, np.diff(ey), axis=0), np.diff(ex), axis=1)
    return out


def _sampled_median(image: F32, valid: B8) -> float:
    """Median of the valid pixels, from at most ~2²⁰ evenly strided ones."""
    step = max(1, image.size // _MEDIAN_SAMPLE)
    sample = image.ravel()[::step][valid.ravel()[::step]]
    return float(np.median(sample)) if sample.size else 0.0


def _block_median(cell_mean: F64, cell_ok: B8, ry: I64, rx: I64, shape: tuple[int, int]) -> F64:
    """Median of the valid cell means of every block (NaN for blocks without valid cells)."""
    block = (ry[:, None] * shape[1] + rx[None, :])[cell_ok]
    vals = cell_mean[cell_ok]
    order = np.lexsort((vals, block))
    block, vals = block[order], vals[order]
    nblocks = shape[0] * shape[1]
    counts = np.bincount(block, minlength=nblocks)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full(nblocks, np.nan)
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = 0.5 * (vals[lo] + vals[hi])
    return out.reshape(shape)
