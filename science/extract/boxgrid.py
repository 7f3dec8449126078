"""Cell-aligned box grids: boxes of ``q × q`` cells of ``step × step`` pixels starting every ``step`` pixels.

Shared by the exact box medians/MADs (:mod:`science.extract.boxstats`) and caesar's clipped estimator
(:mod:`science.extract.boxclip`): per-box sums of per-cell values, the chunks of box rows they work on, and
the run of equally spaced box centres that can take this path. numpy only (the parameters import it).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CHUNK_ROWS", "aligned_grid", "box_sums", "over_box_rows", "regular_run"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

#: Box rows per independently binned chunk.
CHUNK_ROWS = 48


def box_sums(grid: npt.NDArray[Any], q: int, nby: int, nbx: int) -> npt.NDArray[Any]:
    """Sums of ``q × q`` cells of ``grid`` (``(cells y, cells x, m)``) for every box, ``(nby · nbx, m)``."""
    column = grid[0:nby].copy()
    for d in range(1, q):
        column += grid[d : d + nby]
    total = column[:, 0:nbx].copy()
    for d in range(1, q):
        total += column[:, d : d + nbx]
    out: npt.NDArray[Any] = total.reshape(nby * nbx, grid.shape[2])
    return out


def over_box_rows(
    block: F32, box: int, step: int, threads: int, work: Callable[[F32], tuple[F64, F64, Bool]]
) -> list[tuple[F64, F64, Bool]]:
    """``work`` on the pixel rows of chunks of :data:`CHUNK_ROWS` box rows of a cell-aligned box grid (equal
    shares for ``threads``), the results in order; ValueError if ``block`` is not such a grid."""
    q = box // step
    if box % step or q < 1 or (block.shape[0] - box) % step or (block.shape[1] - box) % step:
        raise ValueError(f"block {block.shape} is not a grid of {box} px boxes every {step} px")
    nby = (block.shape[0] - box) // step + 1
    count = -(-nby // CHUNK_ROWS)
    count = -(-count // threads) * threads if count > 1 else 1  # equal shares for the threads
    bounds = np.linspace(0, nby, min(count, nby) + 1).astype(int)

    def one(rows: tuple[int, int]) -> tuple[F64, F64, Bool]:
        a, b = rows
        return work(block[a * step : (b - 1 + q) * step])

    chunks = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    if threads > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(chunks))) as pool:
            return list(pool.map(one, chunks))
    return [one(c) for c in chunks]


def regular_run(centres: npt.NDArray[np.int64]) -> tuple[int, int, int]:
    """``(first, count, step)`` of the leading equally spaced centres (count ≥ 1)."""
    if centres.size < 2:
        return (int(centres[0]) if centres.size else 0), centres.size, 1
    gaps = np.diff(centres)
    count = 1 + int(np.argmin(gaps == gaps[0])) if not np.all(gaps == gaps[0]) else centres.size
    return int(centres[0]), count, int(gaps[0])


def aligned_grid(
    cy: npt.NDArray[np.int64], cx: npt.NDArray[np.int64], box: int, step: int | None = None
) -> tuple[int, int, int, int, int] | None:
    """``(y0, ny, x0, nx, step)`` of the leading equally spaced boxes centred on ``cy`` × ``cx`` when they form
    a grid the cell paths take: corners every ``step`` pixels (default: the centres' spacing), boxes of 2 to 8
    cells a side (beyond, each box spans too many cells to gain), at least 16 boxes; else None."""
    half = box // 2
    y0, ny, ystep = regular_run(cy - half)
    x0, nx, xstep = regular_run(cx - half)
    if step is None:
        step = ystep if ny > 1 else xstep
    aligned = (
        step > 0
        and box % step == 0
        and 2 <= box // step <= 8
        and (ny == 1 or ystep == step)
        and (nx == 1 or xstep == step)
        and ny * nx >= 16
    )
    return (y0, ny, x0, nx, step) if aligned else None
