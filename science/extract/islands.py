"""Compact-source islands: 4-connected pixels with ``Z ≥ merge_thr`` holding a ``Z ≥ seed_thr`` seed.

Equivalent to caesar's flood fill (``BlobFinder::FloodFill``) with ``compactsearchiters = 1``; see
``docs/caesar-extraction.md`` §4. Nested sources, iterations and fitting are later stages. Optionally (not in
caesar) a local maximum whose peak interpolated between pixels reaches ``seed_thr`` seeds too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from astropy.wcs import WCS
from scipy import ndimage

from science.errors import ParameterError
from science.extract.background import BackgroundMaps
from science.extract.contour import trace_boundary
from science.extract.peaks import MAX_PEAK_GAIN, interpolated_peaks
from science.extract.sources import add_sky_columns, empty_island_table, scan_order

__all__ = [
    "FOUR_CONNECTIVITY",
    "IslandFinder",
    "IslandPixels",
    "LabelIslands",
    "Selector",
    "SparseSignificance",
    "pixel_mask",
]

logger = logging.getLogger(__name__)

FOUR_CONNECTIVITY = ndimage.generate_binary_structure(2, 1)

#: What labelling returns: labels, flat indices of the labelled pixels, their labels, kept labels, their ``z``.
Labelled = tuple[
    npt.NDArray[np.int32], npt.NDArray[np.intp], npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.float32]
]


@dataclass(frozen=True, eq=False)
class IslandPixels:
    """Pixels of one island in full-image coordinates; ``value`` is background-subtracted (Jy/beam)."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    rms: npt.NDArray[np.float64]
    z: npt.NDArray[np.float64]

    def part(self, xy: npt.NDArray[np.integer]) -> IslandPixels:
        """The island's pixels at the full-image positions ``xy`` (``(n, 2)`` of x, y), every one of which
        must be the island's: a nested source's pixels, in ``xy`` order."""
        px, py = self.x.astype(np.int64), self.y.astype(np.int64)
        width = int(max(px.max(), int(xy[:, 0].max()))) + 1
        keys = py * width + px
        order = np.argsort(keys, kind="stable")
        wanted = xy[:, 1].astype(np.int64) * width + xy[:, 0].astype(np.int64)
        at = order[np.minimum(np.searchsorted(keys, wanted, sorter=order), keys.size - 1)]
        if not np.array_equal(keys[at], wanted):
            raise ValueError("a pixel of the part is not the island's")
        return IslandPixels(self.x[at], self.y[at], self.value[at], self.rms[at], self.z[at])


def pixel_mask(
    pixels: list[IslandPixels], shape: tuple[int, ...], origin: tuple[int, int] = (0, 0)
) -> npt.NDArray[np.bool_]:
    """Boolean map (of ``shape``, a tile at ``origin``) of every pixel of ``pixels`` (full-image positions)."""
    mask = np.zeros(shape, bool)
    if pixels:
        ys = np.concatenate([p.y for p in pixels]).astype(np.intp) - origin[0]
        xs = np.concatenate([p.x for p in pixels]).astype(np.intp) - origin[1]
        mask[ys, xs] = True
    return mask


def _label_max(labels: npt.NDArray[np.int32], values: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    out = np.full(size, -np.inf)
    np.maximum.at(out, labels, values)
    return out


class IslandFinder:
    """Find caesar compact-source islands on a background-subtracted significance map.

    Parameters
    ----------
    seed_thr
        Seed threshold in σ (caesar ``seedthr``, 5).
    merge_thr
        Flood-fill threshold in σ, inclusive (caesar ``mergethr``, 2.6); must not exceed ``seed_thr``.
    min_pixels
        Islands with fewer pixels are dropped (caesar ``npixmin``, 5).
    interpolate_peaks
        Also seed at a local maximum whose peak interpolated between pixels (:func:`interpolated_peaks`)
        reaches ``seed_thr``: the threshold then applies to a source's peak, wherever it falls within its
        brightest pixel, not to that pixel's value (not in caesar).

    Raises
    ------
    ParameterError
        If a threshold is not positive, ``merge_thr > seed_thr`` or ``min_pixels < 1``.
    """

    def __init__(
        self, *, seed_thr: float = 5.0, merge_thr: float = 2.6, min_pixels: int = 5, interpolate_peaks: bool = False
    ) -> None:
        if not (seed_thr > 0 and merge_thr > 0):
            raise ParameterError(f"seed_thr and merge_thr must be positive, got {seed_thr!r}, {merge_thr!r}")
        if merge_thr > seed_thr:
            raise ParameterError(f"merge_thr ({merge_thr}) must not exceed seed_thr ({seed_thr})")
        if min_pixels < 1:
            raise ParameterError(f"min_pixels must be ≥ 1, got {min_pixels!r}")
        self.seed_thr = float(seed_thr)
        self.merge_thr = float(merge_thr)
        self.min_pixels = int(min_pixels)
        self.interpolate_peaks = bool(interpolate_peaks)

    def __repr__(self) -> str:
        return (
            f"IslandFinder(seed_thr={self.seed_thr}, merge_thr={self.merge_thr}, min_pixels={self.min_pixels}, "
            f"interpolate_peaks={self.interpolate_peaks})"
        )

    def label(self, z: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """Label map of the kept islands (0 = none) and the kept label numbers."""
        labels, _, _, keep, _ = self._label(z)
        return labels, keep

    def mask(self, z: npt.NDArray[np.float32], *, grow: int = 0, reuse: bool = False) -> npt.NDArray[np.bool_]:
        """Pixels of the kept islands, grown by ``grow`` pixels in every direction (``reuse``: see ``_label``)."""
        _, inside, flat, keep, _ = self._label(z, reuse=reuse)
        out = np.zeros(z.shape, bool)
        if keep.size == 0:
            return out
        kept = np.zeros(int(flat.max()) + 1, bool)
        kept[keep] = True
        ys, xs = np.divmod(inside[kept[flat]], z.shape[1])
        for dy in range(-grow, grow + 1):
            for dx in range(-grow, grow + 1):
                out[np.clip(ys + dy, 0, z.shape[0] - 1), np.clip(xs + dx, 0, z.shape[1] - 1)] = True
        return out

    def _label(self, z: npt.NDArray[np.float32], *, reuse: bool = False) -> Labelled:
        """Labels, flat indices of every labelled pixel, their labels, the kept label numbers and their ``z``.

        Counts run over the labelled pixels only (a few per cent of the image), not over the whole map.
        With ``reuse`` the label map is written over ``z`` itself (same size, int32): one full-size array
        fewer to allocate and fault in; ``z`` is then garbage.
        """
        mask = z >= self.merge_thr
        inside = np.flatnonzero(mask)
        z_inside = z.ravel()[inside]
        seeded = np.flatnonzero(z_inside >= self.seed_thr)  # positions in ``inside``
        if self.interpolate_peaks:  # before ``reuse`` writes the labels over ``z``
            near = np.flatnonzero((z_inside < self.seed_thr) & (z_inside >= self.seed_thr / MAX_PEAK_GAIN))
            seeded = np.concatenate((seeded, near[interpolated_peaks(z, inside[near]) >= self.seed_thr]))
        out = z.view(np.int32) if reuse and z.flags.c_contiguous else np.empty(z.shape, np.int32)
        n = ndimage.label(mask, structure=FOUR_CONNECTIVITY, output=out)
        labels = out
        flat = labels.ravel()[inside]
        if n == 0:
            return labels, inside, flat, np.empty(0, np.int64), z_inside
        npix = np.bincount(flat, minlength=n + 1)
        seeds = np.bincount(flat[seeded], minlength=n + 1)
        keep = np.nonzero((npix >= self.min_pixels) & (seeds > 0))[0]
        keep = keep[keep > 0]
        return labels, inside, flat, keep.astype(np.int64), z_inside

    def find(
        self,
        data: npt.NDArray[np.float32],
        maps: BackgroundMaps,
        *,
        wcs: WCS,
        beam_area_pixels: float,
        frequency_hz: float | None = None,
        origin: tuple[int, int] = (0, 0),
        full_shape: tuple[int, int] | None = None,
    ) -> Table:
        """Islands of ``data`` as a table with every column of :data:`~science.extract.sources.ISLAND_COLUMNS`.

        Parameters
        ----------
        data
            float32 pixels (NaN blank), a whole image or a tile.
        maps
            Background and rms maps of ``data``.
        wcs
            Celestial WCS of the full image.
        beam_area_pixels
            Beam area in pixels.
        frequency_hz
            Image frequency, or None (``nu(GHz) = -999``).
        origin
            ``(y0, x0)`` of ``data`` in the full image; output pixel coordinates are full-image ones.
        full_shape
            Full image shape, for the ``edge`` flag; default ``data.shape``.

        Returns
        -------
        Table
            One row per island, in caesar scan order, named ``S1…Sn`` (an empty table when none).
        """
        table, _ = self.find_islands(
            data,
            maps,
            wcs=wcs,
            beam_area_pixels=beam_area_pixels,
            frequency_hz=frequency_hz,
            origin=origin,
            full_shape=full_shape,
        )
        return table

    def find_islands(
        self,
        data: npt.NDArray[np.float32],
        maps: BackgroundMaps,
        *,
        wcs: WCS,
        beam_area_pixels: float,
        frequency_hz: float | None = None,
        origin: tuple[int, int] = (0, 0),
        full_shape: tuple[int, int] | None = None,
    ) -> tuple[Table, list[IslandPixels]]:
        """As :meth:`find`, plus the pixels of every island in table row order (for nesting and fitting)."""
        labels, inside, flat, keep, z_inside = self._label(maps.significance(data), reuse=True)
        table = empty_island_table(len(keep))
        if len(keep) == 0:
            return table, []
        y0, x0 = origin
        full = full_shape or data.shape
        size = int(flat.max()) + 1
        yy, xx = np.divmod(inside, data.shape[1])
        yy, xx = yy.astype(np.float64), xx.astype(np.float64)
        vals = np.nan_to_num(data.ravel()[inside].astype(np.float64))

        def total(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            summed = np.bincount(flat, weights=weights, minlength=size)[keep].astype(np.float64)
            return summed

        npix = np.bincount(flat, minlength=size)[keep]
        stot = total(vals)
        table["npix"] = npix
        table["x"] = total(xx) / npix + x0
        table["y"] = total(yy) / npix + y0
        table["x_w"] = total(vals * xx) / stot + x0
        table["y_w"] = total(vals * yy) / stot + y0
        table["Stot(Jy/beam)"] = stot
        table["Smax(Jy/beam)"] = _label_max(flat, vals, size)[keep]
        table["zmax"] = _label_max(flat, z_inside.astype(np.float64), size)[keep]
        table["bkgSum(Jy/beam)"] = total(maps.level.ravel()[inside].astype(np.float64))
        table["rmsSum(Jy/beam)"] = total(maps.rms.ravel()[inside].astype(np.float64))
        self._shape_columns(table, labels, keep, origin, full, inside, flat)
        table["morphId"] = 1
        table["sourcenessId"] = 2
        table["isGoodSource"] = 1
        add_sky_columns(table, wcs, beam_area_pixels=beam_area_pixels, frequency_hz=frequency_hz)
        logger.debug("%d islands in %s at origin %s", len(table), data.shape, origin)
        pixels = _island_pixels(inside, flat, keep, data, maps, z_inside, origin)
        order = scan_order(table)
        table = table[order]
        table["name"] = [f"S{k + 1}" for k in range(len(table))]
        return table, [pixels[i] for i in order]

    @staticmethod
    def _shape_columns(
        table: Table,
        labels: npt.NDArray[np.int32],
        keep: npt.NDArray[np.int64],
        origin: tuple[int, int],
        full: tuple[int, int],
        inside: npt.NDArray[np.intp],
        flat: npt.NDArray[np.int32],
    ) -> None:
        """Bounding box, scan-order key, edge flag and contour, per island (boxes from the labelled pixels:
        a few per cent of the image, where ``find_objects`` would scan all of it)."""
        y0, x0 = origin
        order = np.argsort(flat, kind="stable")
        ys, xs = np.divmod(np.append(inside[order], 0), labels.shape[1])  # a sentinel after the last pixel
        bounds = np.column_stack(
            [np.searchsorted(flat[order], keep, side="left"), np.searchsorted(flat[order], keep, side="right")]
        ).ravel()  # [start, stop) of every kept label: reduceat's even entries are the labels' own pixels
        ymin, ymax = np.minimum.reduceat(ys, bounds)[::2], np.maximum.reduceat(ys, bounds)[::2]
        xmin, xmax = np.minimum.reduceat(xs, bounds)[::2], np.maximum.reduceat(xs, bounds)[::2]
        n = len(keep)
        box = np.empty((n, 4), np.int64)
        scan = np.empty((n, 2), np.int64)
        contours = np.empty(n, dtype=object)
        extents = zip(keep.tolist(), ymin.tolist(), ymax.tolist(), xmin.tolist(), xmax.tolist(), strict=True)
        for row, (lab, ya, yb, xa, xb) in enumerate(extents):
            sy, sx = slice(ya, yb + 1), slice(xa, xb + 1)
            sub = labels[sy, sx] == lab
            first_col = int(np.argmax(sub.any(axis=0)))
            first_row = int(np.argmax(sub[:, first_col]))
            box[row] = (sx.start + x0, sx.stop - 1 + x0, sy.start + y0, sy.stop - 1 + y0)
            scan[row] = (first_col + sx.start + x0, first_row + sy.start + y0)
            contours[row] = trace_boundary(sub) + np.array([sx.start + x0, sy.start + y0], np.int32)
        table["xmin"], table["xmax"], table["ymin"], table["ymax"] = box.T
        table["scan_x"], table["scan_y"] = scan.T
        table["edge"] = (box[:, 0] == 0) | (box[:, 2] == 0) | (box[:, 1] == full[1] - 1) | (box[:, 3] == full[0] - 1)
        table["contour"] = contours


Selector = Callable[[npt.NDArray[np.intp], npt.NDArray[np.int32], int], npt.NDArray[np.bool_]]


class LabelIslands(IslandFinder):
    """Islands from a label map (labels 1…n) with ≥ ``min_pixels`` pixels and, if given, ``select``-ed
    (called with the flat indices of the labelled pixels, their labels and n; True per label kept)."""

    def __init__(self, labels: npt.NDArray[np.int32], n: int, min_pixels: int, select: Selector | None = None) -> None:
        super().__init__(seed_thr=1.0, merge_thr=1.0, min_pixels=min_pixels)
        self.labels, self.n, self.select = labels, n, select
        self.inside = np.flatnonzero(labels)

    @classmethod
    def of_mask(cls, mask: npt.NDArray[np.bool_], min_pixels: int, select: Selector | None = None) -> LabelIslands:
        """4-connected components of ``mask``."""
        labels, n = ndimage.label(mask, structure=FOUR_CONNECTIVITY, output=np.int32)
        return cls(labels, n, min_pixels, select)

    def islands(
        self, data: npt.NDArray[np.float32], maps: BackgroundMaps, **geometry: Any
    ) -> tuple[Table, list[IslandPixels]]:
        """:meth:`find_islands` with the significance computed on the labelled pixels only."""
        return self.find_islands(data, SparseSignificance(maps.level, maps.rms, where=self.inside), **geometry)

    def _label(self, z: npt.NDArray[np.float32], *, reuse: bool = False) -> Labelled:
        flat = self.labels.ravel()[self.inside]
        ok = np.bincount(flat, minlength=self.n + 1) >= self.min_pixels
        if self.select is not None:
            ok &= self.select(self.inside, flat, self.n)
        keep = np.nonzero(ok)[0]
        return self.labels, self.inside, flat, keep[keep > 0].astype(np.int64), z.ravel()[self.inside]


@dataclass(frozen=True, eq=False)
class SparseSignificance(BackgroundMaps):
    """Background maps whose significance map is computed at the flat indices ``where`` only (0 elsewhere)."""

    where: npt.NDArray[np.intp] | None = None

    def significance(self, data: npt.NDArray[np.float32], threads: int | None = None) -> npt.NDArray[np.float32]:
        z = np.zeros(data.shape, np.float32)
        if self.where is not None:
            idx, rms = self.where, self.rms.ravel()[self.where]
            with np.errstate(invalid="ignore", divide="ignore"):
                zz = (data.ravel()[idx] - self.level.ravel()[idx]) / rms
            z.ravel()[idx] = np.where(np.isfinite(zz) & (rms > 0), zz, 0.0)
        return z


def _island_pixels(
    inside: npt.NDArray[np.intp],
    flat: npt.NDArray[np.int32],
    keep: npt.NDArray[np.int64],
    data: npt.NDArray[np.float32],
    maps: BackgroundMaps,
    z_inside: npt.NDArray[np.float32],
    origin: tuple[int, int],
) -> list[IslandPixels]:
    """Pixels of each kept label, in ``keep`` order, grouped with one sort (``z_inside``: ``z`` at ``inside``)."""
    order = np.argsort(flat, kind="stable")
    sorted_labels = flat[order]
    starts = np.searchsorted(sorted_labels, keep, side="left")
    stops = np.searchsorted(sorted_labels, keep, side="right")
    width = data.shape[1]
    idx_all = inside[order]
    yy, xx = np.divmod(idx_all, width)
    value = np.nan_to_num((data.ravel()[idx_all] - maps.level.ravel()[idx_all]).astype(np.float64))
    rms = maps.rms.ravel()[idx_all].astype(np.float64)
    zz = z_inside[order].astype(np.float64)
    xf, yf = (xx + origin[1]).astype(np.float64), (yy + origin[0]).astype(np.float64)
    return [
        IslandPixels(x=xf[a:b], y=yf[a:b], value=value[a:b], rms=rms[a:b], z=zz[a:b])
        for a, b in zip(starts, stops, strict=True)
    ]
