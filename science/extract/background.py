"""caesar-like local background and noise maps (``BkgFinder``: median + 1.4826·MAD on a box grid).

Box side = ``box_beams × ceil(beam FWHM in pixels)``; box centres every ``grid × box`` pixels from the
first box flush with the image start to the last box flush with the image end; boxes with fewer than
``min_pixels`` finite pixels (or a non-finite level / non-positive rms) are filled from the nearest good
box; grids are bilinearly interpolated to every pixel (clamped outside the outermost centres); the
optional second pass recomputes only the rms on ``image − background``. When the box is at least as
large as the image, global median and MAD are used.

The grid is anchored to the *full* image (``origin``/``full_shape``): a tile uses exactly the boxes of the
untiled grid that lie inside it, so tile maps equal untiled maps away from the tile's cut edges.

Box medians and MADs are exact order statistics: boxes on a grid of whole cells (box a multiple of the
step) come from :mod:`science.extract.boxstats`, the others from a partition of their pixels.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from science.errors import ParameterError
from science.extract.boxgrid import aligned_grid
from science.extract.boxmask import MAD_TO_SIGMA, fill_for_mad, fill_spread, masked_for_median
from science.extract.boxstats import aligned_box_stats
from science.extract.estimators import BkgEstimator, box_level_rms, estimator_grid
from science.extract.gridmaps import BoxGrid, bilinear, box_centres, by_rows, fill_bad

__all__ = ["MAD_TO_SIGMA", "BackgroundEstimator", "BackgroundMaps"]

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class BackgroundMaps:
    """Per-pixel background level and noise (rms), Jy/beam, float32, same shape as the image; ``grid``: the
    boxes they were interpolated from (None for global maps or maps from elsewhere)."""

    level: F32
    rms: F32
    grid: BoxGrid | None = None

    def significance(self, data: F32, threads: int | None = None) -> F32:
        """``Z = (I − B) / σ``, 0 where the pixel is blank or ``σ ≤ 0`` (caesar convention).

        Computed in blocks of rows that stay in cache, on ``threads`` bands (default: all cores).
        """
        z = np.empty(data.shape, np.float32)

        def band(a: int, b: int) -> None:
            with np.errstate(invalid="ignore", divide="ignore"):
                for r in range(a, b, 32):
                    block, rms = z[r : min(b, r + 32)], self.rms[r : min(b, r + 32)]
                    np.subtract(data[r : min(b, r + 32)], self.level[r : min(b, r + 32)], out=block)
                    np.divide(block, rms, out=block)
                    bad = ~np.isfinite(block)
                    bad |= rms <= 0
                    np.copyto(block, np.float32(0.0), where=bad)

        by_rows(data.shape[0], threads or os.cpu_count() or 1, band)
        return z


def _median_in_place(samples: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.float64]:
    """Exact median along axis 1 of a NaN-free array, ``k = n // 2``; partitions the caller's buffer in place."""
    n = samples.shape[1]
    samples.partition(k, axis=1)
    upper = samples[:, k].astype(np.float64)
    if n % 2:
        return upper
    lower = samples[:, :k].max(axis=1).astype(np.float64)
    result: npt.NDArray[np.float64] = 0.5 * (lower + upper)
    return result


class BackgroundEstimator:
    """Background and noise on caesar's overlapping box grid (median / MAD unless told otherwise).

    Parameters
    ----------
    box_beams
        Box side in beams (caesar ``bkgbox``, default 20).
    grid
        Box step as a fraction of the box (caesar ``bkggrid``, default 0.2 → 80 % overlap).
    second_pass
        Recompute the rms on ``image − background`` (caesar ``bkg2ndpass``).
    min_pixels
        Boxes with fewer finite pixels are filled from the nearest good box.
    threads
        Threads computing box statistics (default: all cores); results do not depend on it.
    estimator
        caesar ``bkgestimator``: ``Median`` (median and 1.4826·MAD, default), ``Mean``, ``BiWeight`` or
        ``ClippedMedian`` (:mod:`science.extract.estimators`).
    box_in_pixels
        ``box_beams`` is a side in pixels (caesar ``bkgboxpix``).
    local
        Box grid maps (caesar's default); False: one level and rms for all of ``data`` (caesar
        ``globalbkg``; a tile of a tiled run gets its own).

    Raises
    ------
    ParameterError
        If a parameter is out of range.
    """

    def __init__(
        self,
        *,
        box_beams: float = 20.0,
        grid: float = 0.2,
        second_pass: bool = True,
        min_pixels: int = 10,
        threads: int | None = None,
        estimator: BkgEstimator | str = BkgEstimator.MEDIAN,
        box_in_pixels: bool = False,
        local: bool = True,
    ) -> None:
        if not (math.isfinite(box_beams) and box_beams > 0):
            raise ParameterError(f"box_beams must be a positive number, got {box_beams!r}")
        if not (0 < grid <= 1):
            raise ParameterError(f"grid must be in (0, 1], got {grid!r}")
        if min_pixels < 1:
            raise ParameterError(f"min_pixels must be ≥ 1, got {min_pixels!r}")
        try:
            self.estimator = BkgEstimator.from_option(estimator)
        except ValueError as error:
            raise ParameterError(f"estimator {error}") from None
        self.box_beams = float(box_beams)
        self.grid = float(grid)
        self.second_pass = bool(second_pass)
        self.min_pixels = int(min_pixels)
        self.threads = max(1, threads if threads is not None else (os.cpu_count() or 1))
        self.box_in_pixels = bool(box_in_pixels)
        self.local = bool(local)

    def __repr__(self) -> str:
        return (
            f"BackgroundEstimator(box_beams={self.box_beams}, grid={self.grid}, "
            f"second_pass={self.second_pass}, min_pixels={self.min_pixels}, estimator={self.estimator.value!r}, "
            f"box_in_pixels={self.box_in_pixels}, local={self.local})"
        )

    def box_pixels(self, beam_size_pixels: float) -> int:
        """Box side in pixels, ``round(box_beams × ceil(beam_size_pixels))`` (``box_beams`` itself with
        ``box_in_pixels``), at least 3."""
        if self.box_in_pixels:
            return max(3, round(self.box_beams))
        return max(3, round(self.box_beams * math.ceil(beam_size_pixels - 1e-9)))

    def step_pixels(self, box: int) -> int:
        """Distance between box centres, ``round(grid × box)``, at least 1."""
        return max(1, round(self.grid * box))

    def box_grid(
        self,
        shape: tuple[int, ...],
        beam_size_pixels: float,
        *,
        origin: tuple[int, int] = (0, 0),
        full_shape: tuple[int, int] | None = None,
        warn: bool = False,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int] | None:
        """Box centres along y and x in data of ``shape`` (a tile at ``origin`` of ``full_shape``) and the box
        side; None when the maps are global (not ``local``, a box as large as the image, or a tile smaller
        than a box, logged with ``warn``)."""
        full = full_shape or shape
        box = self.box_pixels(beam_size_pixels)
        if not self.local or box >= full[0] or box >= full[1]:
            return None
        step = self.step_pixels(box)
        half = box // 2
        centres = []
        for axis in (0, 1):
            c = box_centres(full[axis], box, step) - origin[axis]
            c = c[(c - half >= 0) & (c - half + box <= shape[axis])]
            if c.size == 0:
                if warn:
                    logger.warning("tile of shape %s smaller than the %d px background box: global values", shape, box)
                return None
            centres.append(c)
        return centres[0], centres[1], box

    def estimate(
        self,
        data: F32,
        beam_size_pixels: float,
        *,
        origin: tuple[int, int] = (0, 0),
        full_shape: tuple[int, int] | None = None,
        exclude: npt.NDArray[np.bool_] | None = None,
        noise: F32 | None = None,
    ) -> BackgroundMaps:
        """Background level and rms maps of ``data``.

        Parameters
        ----------
        data
            2-D float32 pixels, NaN blank.
        beam_size_pixels
            Geometric-mean beam FWHM in pixels.
        origin
            ``(y0, x0)`` of ``data`` in the full image (tiles).
        full_shape
            Shape of the full image; default ``data.shape``.
        exclude
            Pixels left out of every box's statistics (caesar ``bkgskipoutliers``: the sources found on a
            first estimate), see :mod:`science.extract.boxmask`; boxes with less than a quarter of their
            pixels left are filled from the nearest good box.
        noise
            An rms map (a first estimate's) scaling the fill of the excluded pixels; default: the MAD-based
            rms of the pixels left on every 4th row and column.

        Returns
        -------
        BackgroundMaps
        """
        grid = self.box_grid(data.shape, beam_size_pixels, origin=origin, full_shape=full_shape, warn=True)
        if grid is None:
            return self._global(data, exclude)
        cy, cx, box = grid
        step = self.step_pixels(box)
        if self.estimator is not BkgEstimator.MEDIAN:
            return self._other_estimate(data, cy, cx, box, exclude)
        ys, xs, masked, invalid = masked_for_median(data, exclude, cy, cx, box)
        source = data if masked is None else masked
        need_rms = not self.second_pass and masked is None
        level_grid, rms_grid = self._grid_stats(source, cy, cx, box, step, need_rms=need_rms, invalid=invalid)
        level = bilinear(level_grid, cy, cx, data.shape, self.threads)
        residual: F32 | None = None
        if self.second_pass:
            if data.dtype == np.float32:
                buffer = residual = masked if masked is not None else np.empty_like(data)
                by_rows(data.shape[0], self.threads, lambda a, b: np.subtract(data[a:b], level[a:b], out=buffer[a:b]))
            else:
                residual = (data - level).astype(np.float32)
            if ys.size:
                fill_for_mad(residual, ys, xs, 0.0, fill_spread(data, exclude, noise, ys, xs))
        elif masked is not None:
            residual = masked  # raw pixels: half of the masked ones go next to the level
            fill_for_mad(residual, ys, xs, level[ys, xs], fill_spread(data, exclude, noise, ys, xs))
        if residual is not None:
            _, rms_grid = self._grid_stats(residual, cy, cx, box, step, invalid=invalid)
        # The residual is done with: the rms map goes into its memory (one full-size array fewer to fault in).
        reuse = (
            residual if residual is not None and residual.dtype == np.float32 and residual.flags.c_contiguous else None
        )
        rms = bilinear(rms_grid, cy, cx, data.shape, self.threads, out=reuse)
        return BackgroundMaps(level, rms, BoxGrid(cy, cx, box, level_grid, rms_grid))

    def _other_estimate(
        self,
        data: F32,
        cy: npt.NDArray[np.int64],
        cx: npt.NDArray[np.int64],
        box: int,
        exclude: npt.NDArray[np.bool_] | None,
    ) -> BackgroundMaps:
        """The maps by a Mean, BiWeight or ClippedMedian estimator; excluded pixels are blanked (these
        estimators handle blanks at no extra cost), boxes with less than a quarter of their pixels left are
        filled from the nearest good box."""
        source = np.asarray(data, dtype=np.float32) if exclude is None else data.astype(np.float32, copy=True)
        min_pixels = self.min_pixels
        if exclude is not None:
            source[exclude] = np.nan
            min_pixels = max(min_pixels, box * box // 4)

        def grids(image: F32) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
            level, rms = estimator_grid(image, cy, cx, box, self.estimator, min_pixels=min_pixels, threads=self.threads)
            bad = ~np.isfinite(level) | ~(rms > 0)
            if bad.all():
                logger.warning("no background box has %d finite pixels", min_pixels)
            return fill_bad(level, bad), fill_bad(rms, bad)

        level_grid, rms_grid = grids(source)
        level = bilinear(level_grid, cy, cx, data.shape, self.threads)
        if self.second_pass:
            if exclude is None:
                _, rms_grid = grids(np.subtract(source, level))
            else:
                np.subtract(source, level, out=source)  # the copy is done with: the residual goes in it
                _, rms_grid = grids(source)
        rms = bilinear(rms_grid, cy, cx, data.shape, self.threads)
        return BackgroundMaps(level, rms, BoxGrid(cy, cx, box, level_grid, rms_grid))

    def _global(self, data: F32, exclude: npt.NDArray[np.bool_] | None = None) -> BackgroundMaps:
        keep = np.isfinite(data) if exclude is None else np.isfinite(data) & ~exclude
        finite = data[keep]
        if finite.size < self.min_pixels:
            nan = np.full(data.shape, np.nan, dtype=np.float32)
            return BackgroundMaps(nan, nan.copy())
        level, rms = (float(v[0]) for v in box_level_rms(finite[None, :], self.estimator, self.min_pixels))
        if self.second_pass:
            rms = float(box_level_rms((finite - level)[None, :], self.estimator, self.min_pixels)[1][0])
        return BackgroundMaps(np.full(data.shape, level, np.float32), np.full(data.shape, rms, np.float32))

    def _grid_stats(
        self,
        data: F32,
        cy: npt.NDArray[np.int64],
        cx: npt.NDArray[np.int64],
        box: int,
        step: int,
        *,
        need_rms: bool = True,
        invalid: npt.NDArray[np.bool_] | None = None,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Box medians and 1.4826·MAD, bad boxes filled from the nearest good one.

        Box rows whose pixel rows are all finite take exact selections: the cell-aligned boxes through
        :func:`aligned_box_stats`, the others (and any it hands back) through a partition of their pixels.
        Rows with blanks use ``nanmedian`` on the boxes with ``min_pixels`` finite pixels. Without
        ``need_rms`` the rms grid is only right in sign (the level fill of a two-pass estimate). Boxes marked
        ``invalid`` count as bad.
        """
        half = box // 2
        level = np.full((cy.size, cx.size), np.nan)
        rms = np.full((cy.size, cx.size), np.nan)
        k = box * box // 2
        # Box rows whose pixel rows are all finite take the NaN-free path (flags computed once per image).
        # (a float64 row sum of float32 pixels is finite exactly when all of them are: it cannot overflow)
        finite_rows = np.empty(data.shape[0], dtype=bool)
        if data.dtype == np.float32:
            by_rows(
                data.shape[0],
                self.threads,
                lambda a, b: np.isfinite(data[a:b].sum(axis=1, dtype=np.float64), out=finite_rows[a:b]),
            )
        else:
            finite_rows[:] = np.isfinite(data).all(axis=1)
        finite_box = np.array([bool(finite_rows[c - half : c - half + box].all()) for c in cy])
        todo = np.ones((cy.size, cx.size), dtype=bool)
        grid = aligned_grid(cy, cx, box, step)
        if data.dtype == np.float32 and grid is not None:
            y0, ny, x0, nx, _ = grid
            flags = np.concatenate(([0], finite_box[:ny].astype(np.int8), [0]))
            runs = np.flatnonzero(np.diff(flags)).reshape(-1, 2)
            for a, b in runs:
                block = data[y0 + a * step : y0 + (b - 1) * step + box, x0 : x0 + (nx - 1) * step + box]
                med, mad, ok = aligned_box_stats(block, box, step, with_mad=need_rms, threads=self.threads)
                level[a:b, :nx] = med
                rms[a:b, :nx] = MAD_TO_SIGMA * mad
                todo[a:b, :nx] = ~ok

        def one_row(i: int) -> None:
            cols = np.flatnonzero(todo[i])
            c = cy[i]
            block = data[c - half : c - half + box]
            windows = sliding_window_view(block, box, axis=1)[:, cx[cols] - half]  # (box, ncols, box)
            samples = np.ascontiguousarray(windows.transpose(1, 0, 2)).reshape(cols.size, box * box)
            if finite_box[i]:
                med = _median_in_place(samples, k)
                # The deviations' multiset does not depend on the order the selection left: reuse the buffer.
                np.subtract(samples, med[:, None].astype(np.float32), out=samples)
                np.abs(samples, out=samples)
                mad = _median_in_place(samples, k)
            else:
                count = np.isfinite(samples).sum(axis=1)
                ok = count >= self.min_pixels
                med = np.full(cols.size, np.nan)
                mad = np.full(cols.size, np.nan)
                if ok.any():
                    med[ok] = np.nanmedian(samples[ok], axis=1)
                    mad[ok] = np.nanmedian(np.abs(samples[ok] - med[ok, None]), axis=1)
            level[i, cols] = med
            rms[i, cols] = MAD_TO_SIGMA * mad

        # numpy's selection releases the GIL: rows of boxes run on threads, each row written once.
        rows = np.flatnonzero(todo.any(axis=1))
        if rows.size:
            with ThreadPoolExecutor(max_workers=min(self.threads, rows.size)) as pool:
                list(pool.map(one_row, rows))
        bad = ~np.isfinite(level) | ~(rms > 0)
        if invalid is not None:
            bad |= invalid
        if bad.all():
            logger.warning("no background box has %d finite pixels", self.min_pixels)
        return fill_bad(level, bad), fill_bad(rms, bad)
