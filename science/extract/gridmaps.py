"""The box grid of the background maps: box centres, nearest-good fill and bilinear interpolation to pixels.

Pure numpy/scipy helpers of :mod:`science.extract.background` (caesar ``BkgFinder``'s grid: boxes flush
with both image ends, bad boxes filled from the nearest good one, bilinear interpolation clamped outside
the outermost centres).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided
from scipy import ndimage

from science.extract.boxgrid import regular_run

__all__ = ["BoxGrid", "bilinear", "box_centres", "by_rows", "fill_bad", "interp_axis"]

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class BoxGrid:
    """The boxes a pair of maps was interpolated from: centres along y and x, side, and each box's level and rms
    (float64, ``(cy.size, cx.size)``)."""

    cy: npt.NDArray[np.int64]
    cx: npt.NDArray[np.int64]
    box: int
    level: npt.NDArray[np.float64]
    rms: npt.NDArray[np.float64]


def box_centres(n: int, box: int, step: int) -> npt.NDArray[np.int64]:
    """Box centres along one axis of length ``n`` (box ``[c − box//2, c − box//2 + box)``)."""
    half = box // 2
    last = n - box + half
    centres = np.arange(half, last + 1, step, dtype=np.int64)
    if centres.size == 0 or centres[-1] != last:
        centres = np.append(centres, last)
    return centres


def interp_axis(centres: npt.NDArray[np.int64], n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Index of the left centre and weight of the right one for every pixel (clamped at the ends)."""
    if centres.size == 1:
        return np.zeros(n, dtype=np.intp), np.zeros(n)
    p = np.clip(np.arange(n, dtype=np.float64), centres[0], centres[-1])
    k = np.clip(np.searchsorted(centres, p, side="right") - 1, 0, centres.size - 2)
    t = (p - centres[k]) / (centres[k + 1] - centres[k])
    return k.astype(np.intp), t


def bilinear(
    grid: npt.NDArray[np.float64],
    cy: npt.NDArray[np.int64],
    cx: npt.NDArray[np.int64],
    shape: tuple[int, int],
    threads: int = 1,
    out: F32 | None = None,
) -> F32:
    """Bilinear interpolation of a box grid to every pixel (float32, separable: y then x), into ``out`` if given.

    Every pixel is ``left · (1 − t) + right · t`` in float32 with the row values of its two neighbouring
    centres; the columns between equally spaced centres are computed together, as a ``(rows, intervals,
    step)`` view of the output, in blocks of rows shared among ``threads``.
    """
    ky, ty = interp_axis(cy, shape[0])
    kx, tx = interp_axis(cx, shape[1])
    gy = grid[np.minimum(ky + 1, cy.size - 1)]
    rows = (grid[ky] * (1.0 - ty)[:, None] + gy * ty[:, None]).astype(np.float32)
    wl, wr = (1.0 - tx).astype(np.float32), tx.astype(np.float32)
    kr = np.minimum(kx + 1, cx.size - 1)
    if out is None:
        out = np.empty(shape, np.float32)
    x0, nreg, step = regular_run(cx)
    n = nreg - 1
    if n > 0 and not all(
        np.array_equal(w[x0 : x0 + n * step].reshape(n, step), np.broadcast_to(w[x0 : x0 + step], (n, step)))
        for w in (wl, wr)
    ):
        n = 0  # the weights repeat between equally spaced centres; otherwise take the general path
    x1 = x0 + n * step
    view = as_strided(out[:, x0:], shape=(shape[0], n, step), strides=(out.strides[0], step * 4, 4))

    def fill(y0: int, y1: int) -> None:
        for a in range(y0, y1, 64):
            b = min(y1, a + 64)
            if n > 0:
                np.multiply(rows[a:b, :n, None], wl[x0 : x0 + step], out=view[a:b])
                view[a:b] += rows[a:b, 1 : n + 1, None] * wr[x0 : x0 + step]
            for c, d in ((0, x0), (x1, shape[1])):
                if d > c:
                    np.multiply(rows[a:b][:, kx[c:d]], wl[c:d], out=out[a:b, c:d])
                    out[a:b, c:d] += rows[a:b][:, kr[c:d]] * wr[c:d]

    by_rows(shape[0], threads, fill)
    return out


def by_rows(n: int, threads: int, work: Callable[[int, int], object]) -> None:
    """``work(start, stop)`` on ``threads`` bands of ``n`` image rows (one band when the image is small)."""
    bands = np.linspace(0, n, max(1, min(threads, n // 256)) + 1).astype(int)
    if bands.size > 2:
        with ThreadPoolExecutor(max_workers=bands.size - 1) as pool:
            list(pool.map(work, bands[:-1].tolist(), bands[1:].tolist()))
    else:
        work(0, n)


def fill_bad(values: npt.NDArray[np.float64], bad: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    if not bad.any() or bad.all():
        return values
    idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
    filled: npt.NDArray[np.float64] = values[tuple(idx)]
    return filled
