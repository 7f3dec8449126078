"""Exact medians and MADs of overlapping boxes on a cell-aligned grid (fast path of the background estimator).

Boxes of side ``q × step`` start every ``step`` pixels, so the block splits into ``step × step`` cells and
every box is ``q × q`` cells, each sorted once. A monotone bin function (quantile bins of the chunk, looked
up from the top 16 bits of the float32 pixels) gives exact cumulative bin counts per cell and, summed,
per box. A box's k-th smallest pixel therefore lies in a known bin at a known rank: only that bin's pixels
(one sorted run per cell) are gathered and sorted. The MAD is selected the same way from the two bins
holding ``median ∓ MAD`` (estimated from the bin counts) and checked against exact bounds from the bin
edges. Results equal a full partition of the box pixels; boxes that fail the check or have too many
candidates are reported for the caller's exact path.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import numpy.typing as npt

from science.extract.boxgrid import box_sums, over_box_rows

__all__ = ["MAX_CANDIDATES", "NBINS", "Cells", "aligned_box_stats", "bin_of_rank"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Ints = npt.NDArray[np.integer[Any]]
Bool = npt.NDArray[np.bool_]

#: Quantile bins per chunk (exactness does not depend on it, only the amount of work).
NBINS = 128
#: Boxes with more candidates than this go to the caller's exact path.
MAX_CANDIDATES = 1024
#: Rank margins (pixels) of the MAD windows around the estimate, tried in turn.
MAD_MARGINS = (4.0, 24.0)
#: Newton steps of the MAD estimate.
NEWTON_STEPS = 2

_HIGH = 1 if sys.byteorder == "little" else 0  # the uint16 half with sign, exponent, top mantissa bits
# The 16-bit groups of float32 values in increasing order of value (NaN groups left out) and the
# smallest value of each group.
_GROUPS = np.concatenate([np.arange(0xFF80, 0x7FFF, -1), np.arange(0x0000, 0x7F81)]).astype(np.uint32)
_LOWEST = np.where(_GROUPS >= 0x8000, (_GROUPS << 16) | 0xFFFF, _GROUPS << 16).astype(np.uint32).view(np.float32)
_LOWEST[0] = -np.inf  # the rest of the −inf group is NaN


def _sortable(x: F32) -> I64:
    """Order-preserving integer keys of non-NaN float32 values (``-0.0`` just below ``+0.0``)."""
    i = x.view(np.int32).astype(np.int64)
    keys: I64 = np.where(i < 0, -(i & 0x7FFFFFFF) - 1, i)
    return keys


def _unsortable(keys: I64) -> F32:
    bits = np.where(keys < 0, (-keys - 1) | 0x80000000, keys).astype(np.uint32)
    return bits.view(np.float32)


class _Bins:
    """Monotone bin function ``x ↦ lut[top16(x − shift)]`` with quantile bins, and its exact edges."""

    def __init__(self, sample: F32, nbins: int) -> None:
        sample = np.sort(sample)
        mid = sample[sample.size // 2]
        spread = sample[(3 * sample.size) // 4] - sample[sample.size // 4]
        # The top 16 bits resolve |x − shift| to 2⁻⁷ of itself: centre the data unless it already is.
        self.shift = np.float32(mid if abs(mid) > 0.25 * spread else 0.0)
        quantiles = (sample - self.shift)[(np.arange(1, nbins) * sample.size) // nbins]
        self.ordered = np.searchsorted(quantiles, _LOWEST, side="right")  # bin of each group, by value
        self.lut: npt.NDArray[np.intp] = np.full(65536, nbins - 1, np.intp)
        self.lut[_GROUPS] = self.ordered
        self.nbins = nbins
        self._edges: F32 | None = None

    def __call__(self, x: F32) -> npt.NDArray[np.intp]:
        y = np.ascontiguousarray(x - self.shift if self.shift else x, dtype=np.float32)
        out: npt.NDArray[np.intp] = self.lut[y.view(np.uint16)[..., _HIGH::2]]
        return out

    def cumulative(self, cells: F32, dtype: type[np.integer[Any]]) -> Ints:
        """Per-cell counts of pixels below every bin edge, ``(cells, nbins + 1)``, in blocks of cells."""
        ncell, s2 = cells.shape
        cum = np.zeros((ncell, self.nbins + 1), dtype)
        block = max(1, 65536 // s2)
        offsets = (np.arange(block, dtype=np.intp) * self.nbins)[:, None]
        shifted, ids = np.empty((block, s2), np.float32), np.empty((block, s2), np.intp)
        for c0 in range(0, ncell, block):
            m = min(block, ncell - c0)
            x = cells[c0 : c0 + m] if not self.shift else np.subtract(cells[c0 : c0 + m], self.shift, out=shifted[:m])
            np.right_shift(x.view(np.uint32), np.uint32(16), out=ids[:m])
            np.take(self.lut, ids[:m], out=ids[:m])
            np.add(ids[:m], offsets[:m], out=ids[:m])
            hist = np.bincount(ids[:m].ravel(), minlength=m * self.nbins).reshape(m, self.nbins)
            np.cumsum(hist, axis=1, dtype=dtype, out=cum[c0 : c0 + m, 1:])
        return cum

    @property
    def edges(self) -> F32:
        """``edges[j]`` = smallest float32 with bin ≥ j (``±inf`` at the ends and for unreachable bins)."""
        if self._edges is None:
            first = np.searchsorted(self.ordered, np.arange(1, self.nbins))  # first group of bin ≥ j
            y_edges = np.where(first < _GROUPS.size, _LOWEST[np.minimum(first, _GROUPS.size - 1)], np.inf)
            self._edges = np.empty(self.nbins + 1, np.float32)
            self._edges[0], self._edges[-1] = -np.inf, np.inf
            self._edges[1:-1] = y_edges if not self.shift else self._x_edges()
        return self._edges

    def _x_edges(self) -> F32:
        """Smallest x with bin ≥ j when shifted: bisection on the float32 keys."""
        j = np.arange(1, self.nbins)
        lo_key, hi_key = (int(v) for v in _sortable(np.array([-np.inf, np.inf], np.float32)))
        lo = np.full(j.size, lo_key - 1)  # virtual key below −inf: bin < j
        hi = np.full(j.size, hi_key + 1)  # virtual key above +inf: bin ≥ j
        while np.any(hi - lo > 1):
            mid = (lo + hi) // 2
            reach = self(_unsortable(np.clip(mid, lo_key, hi_key))) >= j
            hi, lo = np.where(reach, mid, hi), np.where(reach, lo, mid)
        x_edges: F32 = np.where(hi > hi_key, np.float32(np.inf), _unsortable(np.clip(hi, lo_key, hi_key)))
        return x_edges


class Cells:
    """Sorted cells of one chunk with cumulative bin counts per cell and per box."""

    def __init__(self, block: F32, box: int, step: int) -> None:
        q = box // step
        ncy, ncx = block.shape[0] // step, block.shape[1] // step
        nby, nbx = self.shape = (ncy - q + 1, ncx - q + 1)
        self.s2, self.n, m1 = step * step, box * box, NBINS + 1
        # Sorted pixels cell by cell, then one +inf (unused candidate slots point at it).
        self.flat = np.empty(ncy * ncx * self.s2 + 1, np.float32)
        self.flat[-1] = np.inf
        self.flat[:-1].reshape(ncy, ncx, step, step)[...] = block.reshape(ncy, step, ncx, step).swapaxes(1, 2)
        cells = self.flat[:-1].reshape(-1, self.s2)
        cells.sort(axis=1)
        every = max(1, (cells.shape[0] * min(self.s2, 16)) // 65536)
        self.bins = _Bins(cells[::every, :: max(1, self.s2 // 16)].ravel(), NBINS)
        cum = self.bins.cumulative(cells, np.uint16 if self.n < 65536 else np.int32)
        self.cum = cum.ravel()
        self.cum_box = box_sums(cum.reshape(ncy, ncx, m1), q, nby, nbx)
        corner = (np.arange(nby)[:, None] * ncx + np.arange(nbx)).ravel()
        box_cells = corner[:, None] + (np.arange(q)[:, None] * ncx + np.arange(q)).ravel()
        self.at_bins = box_cells * m1  # where the boxes' cells start in the cumulative counts
        self.at_pixels = box_cells * self.s2  # and in the sorted pixels

    def below(self, idx: Ints, bins: Ints) -> I64:
        """Pixels of boxes ``idx`` in bins below ``bins``."""
        counts: I64 = self.cum_box[idx, bins].astype(np.int64)
        return counts

    def candidates(self, idx: I64 | None, windows: list[tuple[I64, I64]], cap: int) -> list[tuple[I64, F32, Ints]]:
        """Pixels of boxes ``idx`` (all if None) in their bin windows ``[lo, hi)`` as ``+inf``-padded rows.

        Returns ``(positions in idx, rows, counts)`` for two groups of boxes (a few boxes in bright regions
        would otherwise multiply the padding); boxes with more than ``cap`` candidates are left out. The
        first group has a row for every box, empty for those of the second, so the second must win.
        """
        at_bins = self.at_bins if idx is None else self.at_bins[idx]
        at_pixels = self.at_pixels if idx is None else self.at_pixels[idx]
        nsel, ncell = at_bins.shape
        start = np.empty((nsel, len(windows), ncell), np.int64)
        length = np.empty((nsel, len(windows), ncell), np.int32)
        for w, (lo, hi) in enumerate(windows):
            first = self.cum[at_bins + lo[:, None]]
            np.add(at_pixels, first, out=start[:, w])
            np.subtract(self.cum[at_bins + hi[:, None]], first, out=length[:, w])
        count = length.sum(axis=(1, 2), dtype=np.int32)
        fits = count <= cap
        if not fits.any():
            return []
        wide = fits & (count > max(int(np.percentile(count[fits], 99)), 16))
        groups = [(np.flatnonzero(wide), start[wide], length[wide], count[wide])]
        length[wide | ~fits] = 0
        count[wide | ~fits] = 0
        groups.insert(0, (np.arange(nsel), start, length, count))
        return [(sel, self._rows(s, ln, c), c) for sel, s, ln, c in groups if sel.size]

    def _rows(self, start: I64, length: Ints, count: Ints) -> F32:
        """Gather the runs ``start[b], length[b]`` of every box into one ``+inf``-padded row per box."""
        seg = length.ravel()
        nonzero = seg > 0
        width = max(int(count.max(initial=0)), 1)
        rows = np.full((count.size, width), np.inf, np.float32)
        # Source and destination of every candidate: runs of consecutive positions, one per (box, window,
        # cell) in the sorted pixels and one per box in the rows.
        src = _runs(start.ravel()[nonzero], seg[nonzero])
        if src.size:
            boxes = np.flatnonzero(count)
            rows.ravel()[_runs(boxes * width, count[boxes])] = self.flat[src]
        return rows


def _runs(first: I64, length: Ints) -> I64:
    """``first[i], first[i] + 1, …, first[i] + length[i] − 1`` for every i (all lengths positive)."""
    ends = np.cumsum(length, dtype=np.int64)
    steps = np.ones(int(ends[-1]) if ends.size else 0, np.int64)
    if steps.size:  # +1 along a run, a jump between runs, then a running sum
        steps[0] = first[0]
        steps[ends[:-1]] = first[1:] - first[:-1] - length[:-1] + 1
        np.cumsum(steps, out=steps)
    return steps


def bin_of_rank(cum_box: Ints, rank: float | I64) -> I64:
    """Per box, the bin holding its ``rank``-th smallest pixel (binary search of the cumulative counts)."""
    nbox, m1 = cum_box.shape
    flat, base = cum_box.ravel(), np.arange(nbox) * m1
    found = np.zeros(nbox, np.int64)  # the last edge with at most `rank` pixels below it
    span = 1 << (m1 - 1).bit_length()
    while span:
        probe = np.minimum(found + span, m1 - 1)
        found = np.where(flat[base + probe] <= rank, probe, found)
        span >>= 1
    bins: I64 = np.minimum(found, m1 - 2)
    return bins


def _pick(rows: F32, rank: I64, count: Ints, even: bool) -> tuple[F64, Bool]:
    """Sort the rows; entry ``rank`` (mean with ``rank + 1`` if even) as ``_median_in_place`` does."""
    rows.sort(axis=1)
    width = rows.shape[1]
    valid = (rank >= 0) & (rank + int(even) < count)
    at = np.arange(rows.shape[0]) * width + np.clip(rank, 0, width - 1 - int(even))
    upper = rows.ravel()[at + int(even)].astype(np.float64)
    if not even:
        return upper, valid
    value: F64 = 0.5 * (rows.ravel()[at].astype(np.float64) + upper)
    return value, valid


def _mad_estimate(cum_box: Ints, edges: F32, med: F64, n: int) -> tuple[F64, F64]:
    """MAD estimate from counts interpolated inside bins (Newton steps from half the interquartile range)
    and the count density at ``median ± MAD``."""
    e = edges.astype(np.float64)
    finite = e[np.isfinite(e)]
    lo, hi = (finite[0], finite[-1]) if finite.size else (0.0, 1.0)
    e = np.clip(e, lo - max(hi - lo, 1e-30), hi + max(hi - lo, 1e-30))
    width = np.diff(e)
    flat, base = cum_box.ravel(), np.arange(cum_box.shape[0]) * edges.size

    def counts(j: I64) -> tuple[F64, F64]:
        c0 = flat[base + j].astype(np.float64)
        return c0, flat[base + j + 1] - c0

    def quantile(t: float) -> F64:
        j = bin_of_rank(cum_box, t)
        c0, c = counts(j)
        value: F64 = e[j] + np.clip((t - c0) / np.where(c > 0, c, 1.0), 0.0, 1.0) * width[j]
        return value

    def below(x: F64) -> tuple[F64, F64]:
        j = np.clip(np.searchsorted(e, x, side="right") - 1, 0, edges.size - 2)
        w = np.where(width[j] > 0, width[j], np.inf)
        c0, c = counts(j)
        return c0 + np.clip((x - e[j]) / w, 0.0, 1.0) * c, c / w

    d = np.maximum(0.5 * (quantile(0.75 * n) - quantile(0.25 * n)), 0.0)
    for _ in range(NEWTON_STEPS):
        (up, f_up), (down, f_down) = below(med + d), below(med - d)
        slope = f_up + f_down
        d = np.maximum(d - (up - down - n // 2 - 0.5 * (n % 2)) / np.where(slope > 0, slope, np.inf), 0.0)
    return d, slope


def _mad_windows(bins: _Bins, med: F64, d: F64, slope: F64, margin: float) -> list[tuple[I64, I64]]:
    """Bin windows ``[lo, hi)`` left and right of the median holding ``median ∓ (d ± margin / slope)``."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        delta = margin / np.where(slope > 0, slope, 0.0)

        def b(x: F64) -> I64:
            return bins(np.nan_to_num(x).astype(np.float32)).astype(np.int64)

        left_lo, left_hi = b(med - d - delta), b(med - d + delta) + 1
        right_lo, right_hi = b(med + d - delta), b(med + d + delta) + 1
    merged = left_hi >= right_lo  # overlapping windows become one
    return [(left_lo, np.where(merged, right_hi, left_hi)), (np.where(merged, right_hi, right_lo), right_hi)]


def _mad_select(cells: Cells, idx: I64, med: F64, windows: list[tuple[I64, I64]]) -> tuple[I64, F64]:
    """MADs of boxes ``idx`` from the pixels in their two windows, where exact bounds confirm them."""
    k, even = cells.n // 2, cells.n % 2 == 0
    (left_lo, left_hi), (right_lo, right_hi) = windows
    e = cells.bins.edges
    before = _unsortable(_sortable(e) - 1)  # largest float32 below each edge (in key order: −0 < +0)
    done, values = [], []
    for sel, rows, count in cells.candidates(idx, windows, MAX_CANDIDATES):
        box, m32 = idx[sel], med[sel].astype(np.float32)
        with np.errstate(invalid="ignore"):
            np.subtract(rows, m32[:, None], out=rows)
        np.abs(rows, out=rows)
        ll, lh, rl, rh = left_lo[sel], left_hi[sel], right_lo[sel], right_hi[sel]
        inner = cells.below(box, rl) - cells.below(box, lh)
        rank = (k - 1 if even else k) - inner
        mad, ok = _pick(rows, rank, count, even)
        width = rows.shape[1]
        at = np.arange(sel.size) * width
        low_dev = rows.ravel()[at + np.clip(rank, 0, width - 1)]
        high_dev = rows.ravel()[at + np.clip(rank + int(even), 0, width - 1)]
        # Exact bounds (fl(x − m) is monotone in x): the pixels left out between the windows are at most
        # low_dev from the median, those outside them at least high_dev.
        with np.errstate(invalid="ignore", over="ignore"):
            inner_max = np.maximum(np.abs(e[lh] - m32), np.abs(before[rl] - m32))
            outer_left = np.where(before[ll] <= m32, m32 - before[ll], np.float32(0))
            outer_right = np.where(e[rh] >= m32, e[rh] - m32, np.float32(0))
        ok &= (inner == 0) | (inner_max <= low_dev)
        ok &= (cells.below(box, ll) == 0) | (outer_left >= high_dev)
        ok &= (cells.below(box, rh) == cells.n) | (outer_right >= high_dev)
        done.append(box[ok])
        values.append(mad[ok])
    if not done:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(done), np.concatenate(values)


def _chunk_stats(block: F32, box: int, step: int, with_mad: bool) -> tuple[F64, F64, Bool]:
    cells = Cells(block, box, step)
    nby, nbx = cells.shape
    n, k, even = cells.n, cells.n // 2, cells.n % 2 == 0
    upper_bin = bin_of_rank(cells.cum_box, k)
    lower_bin = bin_of_rank(cells.cum_box, k - 1) if even else upper_bin
    med = np.full(nby * nbx, np.nan)
    ok = np.zeros(nby * nbx, dtype=bool)
    cap = MAX_CANDIDATES if with_mad else min(MAX_CANDIDATES, k)  # ≤ k candidates ⇒ MAD > 0 (see below)
    for sel, rows, count in cells.candidates(None, [(lower_bin, upper_bin + 1)], cap):
        rank = (k - 1 if even else k) - cells.below(sel, lower_bin[sel])
        med[sel], ok[sel] = _pick(rows, rank, count, even)
    if not with_mad:  # (a zero median also equals pixels of the other sign, which may sit in another bin)
        ok &= med != 0
        return med.reshape(nby, nbx), np.where(ok, np.inf, np.nan).reshape(nby, nbx), ok.reshape(nby, nbx)

    d, slope = _mad_estimate(cells.cum_box, cells.bins.edges, med, n)
    mad = np.full(med.shape, np.nan)
    todo, ok = ok, np.zeros_like(ok)
    for margin in MAD_MARGINS:  # narrow windows first; the few boxes they miss retry wider ones
        idx = np.flatnonzero(todo)
        done, values = _mad_select(cells, idx, med[idx], _mad_windows(cells.bins, med[idx], d[idx], slope[idx], margin))
        mad[done], ok[done], todo[done] = values, True, False
        if not todo.any():
            break
    return med.reshape(nby, nbx), mad.reshape(nby, nbx), ok.reshape(nby, nbx)


def aligned_box_stats(
    block: F32, box: int, step: int, *, with_mad: bool = True, threads: int = 1
) -> tuple[F64, F64, Bool]:
    """Exact median and MAD of every box ``block[i·step : i·step + box, j·step : j·step + box]``.

    Parameters
    ----------
    block
        2-D float32 pixels, all finite, shape ``((ny − 1)·step + box, (nx − 1)·step + box)``.
    box
        Box side, a multiple of ``step``.
    step
        Distance between box corners.
    with_mad
        Compute the MADs; otherwise the MAD is ``+inf`` where the median was computed (the MAD is then
        known to be positive) and NaN elsewhere.
    threads
        Chunks of box rows processed concurrently (results do not depend on it).

    Returns
    -------
    median, mad, ok
        ``(ny, nx)`` float64 medians and MADs in the ``_median_in_place`` convention (mean of the two
        middle values for even counts; deviations from the float32 median, in float32), and where they
        were computed; elsewhere the caller must take an exact partition.
    """
    parts = over_box_rows(block, box, step, threads, lambda chunk: _chunk_stats(chunk, box, step, with_mad))
    med, mad, ok = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return med, mad, ok
