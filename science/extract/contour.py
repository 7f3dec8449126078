"""Outer boundary of a pixel island (Moore-neighbour tracing), for DS9 polygons and JSON vertices."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = ["trace_boundary"]

# 8 neighbours clockwise on screen with y growing downwards in array rows: E, SE, S, SW, W, NW, N, NE.
_DIRS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))


@lru_cache(maxsize=256)
def _moves(width: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """For each backtrack direction, the neighbours tried in clockwise order: (flat offset in a padded row of
    ``width``, the backtrack direction after moving there: the neighbour tried just before it, seen from it)."""
    offsets = [dy * width + dx for dy, dx in _DIRS]
    direction = {off: k for k, off in enumerate(offsets)}
    return tuple(
        tuple(
            (offsets[(back + k) % 8], direction[offsets[(back + k - 1) % 8] - offsets[(back + k) % 8]])
            for k in range(1, 9)
        )
        for back in range(8)
    )


def trace_boundary(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """Ordered outer-boundary pixels of the connected component holding the first pixel of ``mask``.

    Parameters
    ----------
    mask
        2-D boolean array; the component containing its first ``True`` pixel in row-major order is traced.

    Returns
    -------
    ndarray
        ``(n, 2)`` int32 ``(x, y)`` pixel coordinates in ``mask``'s frame, each boundary pixel visited in
        order (8-connected boundary, like OpenCV ``findContours`` with ``CHAIN_APPROX_NONE``); one row
        for a single pixel; zero rows for an empty mask.
    """
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return np.empty((0, 2), dtype=np.int32)
    # The walk runs on a flat Python list of the padded mask with integer neighbour offsets: plain list
    # indexing is an order of magnitude faster than indexing a numpy array with tuples.
    width = mask.shape[1] + 2
    frame = np.zeros((mask.shape[0] + 2, width), bool)  # (np.pad costs ten times as much on small masks)
    frame[1:-1, 1:-1] = mask
    padded: list[bool] = frame.ravel().tolist()
    moves = _moves(width)
    start = (int(ys[0]) + 1) * width + int(xs[0]) + 1
    points = [start]
    cur = start
    back = 4  # the pixel to the west of the first pixel is background
    first_move: tuple[int, int] | None = None
    for _ in range(8 * int(ys.size) + 8):
        for offset, turn in moves[back]:
            if padded[cur + offset]:
                nxt, back = cur + offset, turn
                break
        else:
            break  # isolated pixel
        if first_move is None:
            first_move = (nxt, back)
        elif cur == start and (nxt, back) == first_move:
            break
        cur = nxt
        points.append(cur)
    if len(points) > 1 and points[-1] == start:
        points.pop()
    flat = np.asarray(points, dtype=np.int64)
    rows, cols = np.divmod(flat, width)
    return np.ascontiguousarray(np.column_stack([cols - 1, rows - 1]).astype(np.int32))
