"""caesar's ``ClippedMedian`` box estimator on a cell-aligned grid (fast path of :mod:`science.extract.estimators`).

Per box, caesar's clipped estimator takes the median and standard deviation (``n − 1``) of the pixels, keeps
those with ``|x − median| < 3·stddev``, and repeats on what it kept until the standard deviation changes by
at most 10 %. Every clip keeps the pixels strictly between two values, so a box's state is a rank window
``[start, stop)`` of its sorted pixels, and the statistics of a window need:

- counts below a value: the cumulative bin counts of :class:`science.extract.boxstats._Cells` (exact per
  box) plus the box's pixels in the value's own bin (one sorted run per cell, gathered);
- sums and sums of squares below a value: the same, with per-cell prefix sums of the sorted cells read at
  the bin edges and summed over the box's cells;
- the median: the window's middle ranks, selected in their bins as the median path does.

Sums are float64 of ``x − shift`` (``shift`` a typical value of the block), as the per-box reference computes them;
blanks (NaN) are ``+inf`` here, above every clip bound, and count out of the box's pixels. Boxes whose bins
hold too many candidates are handed back for the per-box path.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from science.extract.boxgrid import box_sums, over_box_rows
from science.extract.boxstats import MAX_CANDIDATES, NBINS, Cells, bin_of_rank

__all__ = ["CLIP_MAX_ITER", "CLIP_SIGMA", "CLIP_TOLERANCE", "aligned_box_clipped"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

CLIP_SIGMA = 3.0
CLIP_MAX_ITER = 100
CLIP_TOLERANCE = 0.1


class _Window:
    """Counts and sums of the box pixels below values, exact, from the sorted cells of one chunk."""

    def __init__(self, cells: Cells, ncy: int, ncx: int, q: int, shift: float) -> None:
        self.cells = cells
        nby, nbx = cells.shape
        m1 = NBINS + 1
        rows = cells.flat[:-1].reshape(ncy * ncx, cells.s2)
        finite = np.isfinite(rows)
        self.shift = shift
        dev = np.where(finite, rows.astype(np.float64) - self.shift, 0.0)
        at = cells.cum.reshape(ncy * ncx, m1).astype(np.intp)
        prefix = np.zeros((ncy * ncx, cells.s2 + 1))
        sums = []
        for power in (1, 2):
            if power == 2:
                np.square(dev, out=dev)
            np.cumsum(dev, axis=1, out=prefix[:, 1:])
            # Sums below every bin edge, and of all finite pixels (blanks are +inf, in the top bin).
            edges = np.concatenate([np.take_along_axis(prefix, at, axis=1), prefix[:, -1:]], axis=1)
            sums.append(box_sums(edges.reshape(ncy, ncx, m1 + 1), q, nby, nbx))
        self.s1, self.s2 = sums
        blanks = (~finite).sum(axis=1).astype(np.int64).reshape(ncy, ncx, 1)
        self.n: I64 = cells.n - box_sums(blanks, q, nby, nbx)[:, 0]
        self.cum = cells.cum_box

    def below(self, idx: I64, value: F32, inclusive: bool) -> tuple[I64, F64, F64, Bool]:
        """Pixels of boxes ``idx`` below ``value`` (``≤`` if ``inclusive``): count, Σ(x − shift), Σ(x − shift)²,
        and where the count is exact (False: too many pixels in the value's bin)."""
        cells = self.cells
        b = cells.bins(value).astype(np.int64)
        count = cells.below(idx, b)
        s1 = self.s1[idx, b].copy()
        s2 = self.s2[idx, b].copy()
        in_bin = cells.below(idx, b + 1) - count
        ok = in_bin <= MAX_CANDIDATES
        for sel, rows, _ in cells.candidates(idx, [(b, b + 1)], MAX_CANDIDATES):
            v = value[sel][:, None]
            take = rows <= v if inclusive else rows < v
            dev = rows.astype(np.float64)
            dev -= self.shift
            np.putmask(dev, ~take, 0.0)  # (the +inf padding too)
            count[sel] += np.count_nonzero(take, axis=1)
            s1[sel] += dev.sum(axis=1)
            np.square(dev, out=dev)
            s2[sel] += dev.sum(axis=1)
        return count, s1, s2, ok

    def ranked(self, idx: I64, low: I64, high: I64) -> tuple[F64, Bool]:
        """``0.5 · (x[low] + x[high])`` of the sorted pixels of boxes ``idx`` (ranks ``low ≤ high``)."""
        cells = self.cells
        cum = self.cum[idx]
        b0, b1 = bin_of_rank(cum, low), bin_of_rank(cum, high)
        base = cells.below(idx, b0)
        fits = cells.below(idx, b1 + 1) - base <= MAX_CANDIDATES
        ok = np.zeros(idx.size, dtype=bool)
        value = np.full(idx.size, np.nan)
        for sel, rows, count in cells.candidates(idx, [(b0, b1 + 1)], MAX_CANDIDATES):
            rows.sort(axis=1)
            width = rows.shape[1]
            at = np.arange(sel.size) * width
            r0 = np.clip(low[sel] - base[sel], 0, width - 1)
            r1 = np.clip(high[sel] - base[sel], 0, width - 1)
            flat = rows.ravel()
            value[sel] = 0.5 * (flat[at + r0].astype(np.float64) + flat[at + r1].astype(np.float64))
            # (a box of the second group has an empty row in the first: the later group sets it)
            ok[sel] = fits[sel] & (high[sel] - base[sel] < count) & (low[sel] >= base[sel])
        return value, ok


def _median_std(window: _Window, idx: I64, start: I64, stop: I64, s1: F64, s2: F64) -> tuple[F64, F64, Bool]:
    count = stop - start
    median, ok = window.ranked(idx, start + (count - 1) // 2, start + count // 2)
    n = count.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = (s2 - s1 * mean) / (n - 1.0)
    return median, np.sqrt(np.maximum(var, 0.0)), ok


def _chunk_clipped(block: F32, box: int, step: int, min_pixels: int, shift: float) -> tuple[F64, F64, Bool]:
    if not np.isfinite(block).all():
        block = np.where(np.isnan(block), np.float32(np.inf), block)
    cells = Cells(block, box, step)
    window = _Window(cells, block.shape[0] // step, block.shape[1] // step, box // step, shift)
    nbox = window.n.size
    idx = np.arange(nbox)
    start = np.zeros(nbox, np.int64)
    stop = window.n.copy()
    lo_s1, lo_s2 = np.zeros(nbox), np.zeros(nbox)
    hi_s1, hi_s2 = window.s1[:, -1].copy(), window.s2[:, -1].copy()
    median, std, ok = _median_std(window, idx, start, stop, hi_s1 - lo_s1, hi_s2 - lo_s2)
    active = np.flatnonzero(ok & (stop > 1) & (std > 0))
    for _ in range(CLIP_MAX_ITER):
        if active.size == 0:
            break
        lo = (median[active] - CLIP_SIGMA * std[active]).astype(np.float32)
        hi = (median[active] + CLIP_SIGMA * std[active]).astype(np.float32)
        a, a1, a2, ok_a = window.below(active, lo, inclusive=True)
        b, b1, b2, ok_b = window.below(active, hi, inclusive=False)
        # Inside the previous window (the clip applies to what the last one kept).
        raise_lo = a > start[active]
        a = np.where(raise_lo, a, start[active])
        a1, a2 = np.where(raise_lo, a1, lo_s1[active]), np.where(raise_lo, a2, lo_s2[active])
        lower_hi = b < stop[active]
        b = np.where(lower_hi, b, stop[active])
        b1, b2 = np.where(lower_hi, b1, hi_s1[active]), np.where(lower_hi, b2, hi_s2[active])
        kept = b > a  # an empty clip keeps the previous statistics and stops (caesar)
        new_median, new_std, ok_m = _median_std(window, active, a, b, b1 - a1, b2 - a2)
        good = ok_a & ok_b & (ok_m | ~kept)
        ok[active[~good]] = False
        with np.errstate(invalid="ignore", divide="ignore"):
            eps = np.abs(new_std - std[active]) / std[active]
        update = kept & good
        sel = active[update]
        median[sel], std[sel] = new_median[update], new_std[update]
        start[sel], stop[sel] = a[update], b[update]
        lo_s1[sel], lo_s2[sel], hi_s1[sel], hi_s2[sel] = a1[update], a2[update], b1[update], b2[update]
        active = active[update & (eps > CLIP_TOLERANCE) & (new_std > 0)]
    few = window.n < max(1, min_pixels)  # no statistics, as the per-box path: done
    median[few], std[few], ok[few] = np.nan, np.nan, True
    return median, std, ok


def aligned_box_clipped(
    block: F32, box: int, step: int, *, min_pixels: int = 10, threads: int = 1
) -> tuple[F64, F64, Bool]:
    """caesar's clipped median and standard deviation of every box ``block[i·step : i·step + box, j·step : j·step
    + box]`` (NaN blank), and where they were computed (elsewhere the caller takes the per-box path).

    ``block`` has shape ``((ny − 1)·step + box, (nx − 1)·step + box)``, ``box`` a multiple of ``step``; chunks of
    box rows run on ``threads``. Boxes with fewer than ``min_pixels`` finite pixels give NaN, as the per-box path.
    """
    sample = block[:: max(1, step // 2), :: max(1, step // 2)]
    sample = sample[np.isfinite(sample)]
    shift = float(np.median(sample)) if sample.size else 0.0  # one for all chunks: the same sums
    parts = over_box_rows(block, box, step, threads, lambda chunk: _chunk_clipped(chunk, box, step, min_pixels, shift))
    nbx = (block.shape[1] - box) // step + 1
    level, rms, ok = (np.concatenate([p[i].reshape(-1, nbx) for p in parts]) for i in range(3))
    return level, rms, ok
