"""Box statistics that leave out masked pixels, on the fast paths of the unmasked ones.

Masked pixels are not removed (that would send every box holding one to the slow NaN-aware path): they
are overwritten with values whose effect on a box's order statistics cancels. For the **median**, half of
them go far below and half far above every pixel (``∓BIG`` on a checkerboard): the middle of the box is
then the middle of its unmasked pixels. For the **MAD**, a quarter go to ``−BIG``, a quarter to ``+BIG``
and the other half to ``inner ∓ spread``, where ``inner`` is the expected centre (0 for a residual, the
level for raw pixels) and ``spread`` a fraction of the noise: as long as a box's own median lies within
``spread`` of ``inner`` and its MAD beyond ``2·spread``, those sit evenly on both sides of the median and
deviate less than the MAD, so median and MAD are those of the unmasked pixels. Both are exact when a box
holds balanced counts, which the 2×2 pattern gives to within the few pixels of the mask's edge inside it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["BIG", "MAD_TO_SIGMA", "box_counts", "fill_for_mad", "fill_for_median", "fill_spread", "masked_for_median"]

#: 1.4826 · MAD estimates σ for Gaussian noise.
MAD_TO_SIGMA = 1.4826

#: Far beyond any pixel value (float32 arithmetic on it stays finite for pixels below 1e37).
BIG = np.float32(1e37)

Ints = npt.NDArray[np.intp]


def fill_for_median(array: npt.NDArray[np.float32], ys: Ints, xs: Ints) -> None:
    """Overwrite the masked pixels ``(ys, xs)`` with ``∓BIG`` on a checkerboard, in place."""
    array[ys, xs] = np.where((ys + xs) % 2 == 0, -BIG, BIG)


def fill_for_mad(
    array: npt.NDArray[np.float32],
    ys: Ints,
    xs: Ints,
    inner: float | npt.NDArray[np.float32],
    spread: float | npt.NDArray[np.float32],
) -> None:
    """Overwrite the masked pixels: ``−BIG`` (even row, even column), ``+BIG`` (odd, odd), ``inner − spread``
    (even, odd) and ``inner + spread`` (odd, even), in place."""
    oy, ox = ys % 2, xs % 2
    values = (inner + np.where(oy == 1, spread, -np.asarray(spread))).astype(np.float32)
    values[(oy == 0) & (ox == 0)] = -BIG
    values[(oy == 1) & (ox == 1)] = BIG
    array[ys, xs] = values


def box_counts(ys: Ints, xs: Ints, cy: npt.NDArray[np.int64], cx: npt.NDArray[np.int64], box: int) -> Ints:
    """Masked pixels in every box ``[c − box//2, c − box//2 + box)`` of the grid ``cy × cx``."""
    half = box // 2
    ey = np.unique(np.concatenate([cy - half, cy - half + box]))
    ex = np.unique(np.concatenate([cx - half, cx - half + box]))
    # pixel p lies in [a, b) exactly when p + 0.5 does: half-integer points never sit on a bin edge
    hist, _, _ = np.histogram2d(ys + 0.5, xs + 0.5, bins=[ey.astype(float), ex.astype(float)])
    cum = np.zeros((ey.size, ex.size), np.int64)
    cum[1:, 1:] = hist.astype(np.int64).cumsum(axis=0).cumsum(axis=1)
    ya, yb = np.searchsorted(ey, cy - half), np.searchsorted(ey, cy - half + box)
    xa, xb = np.searchsorted(ex, cx - half), np.searchsorted(ex, cx - half + box)
    counts: Ints = (cum[np.ix_(yb, xb)] - cum[np.ix_(ya, xb)] - cum[np.ix_(yb, xa)] + cum[np.ix_(ya, xa)]).astype(
        np.intp
    )
    return counts


def masked_for_median(
    data: npt.NDArray[np.float32],
    exclude: npt.NDArray[np.bool_] | None,
    cy: npt.NDArray[np.int64],
    cx: npt.NDArray[np.int64],
    box: int,
) -> tuple[Ints, Ints, npt.NDArray[np.float32] | None, npt.NDArray[np.bool_] | None]:
    """The masked pixels ``(ys, xs)``, a float32 copy of ``data`` filled for medians and the boxes with less
    than a quarter of their pixels left (None, None when nothing is masked)."""
    if exclude is None or not exclude.any():
        return np.zeros(0, np.intp), np.zeros(0, np.intp), None, None
    ys, xs = np.nonzero(exclude)
    invalid = box_counts(ys, xs, cy, cx, box) > box * box * 3 // 4
    masked = data.astype(np.float32, copy=True)
    fill_for_median(masked, ys, xs)
    return ys, xs, masked, invalid


def fill_spread(
    data: npt.NDArray[np.float32],
    exclude: npt.NDArray[np.bool_] | None,
    noise: npt.NDArray[np.float32] | None,
    ys: Ints,
    xs: Ints,
) -> npt.NDArray[np.float32]:
    """A fifth of the noise at the masked pixels: of ``noise`` if given, else the MAD-based rms of every 4th
    row and column of the pixels left."""
    if noise is not None:
        spread: npt.NDArray[np.float32] = np.float32(0.2) * noise[ys, xs]
        return spread
    left = data[::4, ::4][~exclude[::4, ::4]] if exclude is not None else data[::4, ::4]
    left = left[np.isfinite(left)]
    rms = MAD_TO_SIGMA * float(np.median(np.abs(left - np.median(left)))) if left.size else 0.0
    return np.full(ys.size, 0.2 * rms, np.float32)
