"""caesar's compact-source residual map (``computeresiduals``; ``Image::GetSourceResidual``, dilation model).

A copy of the image in which compact sources are replaced by the background: a source is removed when
the significance of its seed (brightest) pixel is above ``res-zthr`` and either above ``res-zhighthr`` or of
the type ``res-removedsourcetype`` (POINT-LIKE by default: sources :mod:`science.extract.selection` tagged;
caesar compares the morphology id, so ``COMPACT`` does not take POINT-LIKE ones; ``ALL`` takes every one). Its pixels, dilated by an elliptical kernel of
``dilatekernsize`` pixels (OpenCV ``MORPH_ELLIPSE``), take the background level map's values (caesar's
default ``residualModel`` 1, not randomised). With ``res-removenested``, a source below ``res-zhighthr``
that has nested sources keeps its own pixels and loses those of its nested sources of the removed type
(every one with ``ALL``; caesar checks no significance for them). caesar then runs the extended-source
search on this map. Not implemented: the background of a box around each source (``res-bkgaroundsource``)
and fitted-model subtraction (``res-pssubtractionmethod`` FITMODEL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from scipy import ndimage

from science.extract.background import BackgroundMaps
from science.extract.islands import IslandPixels

__all__ = ["ResidualMap", "ellipse_kernel"]

F32 = npt.NDArray[np.float32]
_TYPES = {"ALL": None, "COMPACT": (1,), "POINT-LIKE": (2,), "EXTENDED": (3,)}  # caesar: the same morphology id


def ellipse_kernel(size: int) -> npt.NDArray[np.bool_]:
    """OpenCV's ``getStructuringElement(MORPH_ELLIPSE, (size, size))`` (``size`` made odd, as caesar does)."""
    size += 1 - size % 2
    r = size // 2
    kernel = np.zeros((size, size), bool)
    if r == 0:
        kernel[0, 0] = True
        return kernel
    inv = 1.0 / (r * r)
    for i in range(size):  # OpenCV: half-width of row i from the ellipse equation, rounded
        dy = i - r
        dx = round(r * math.sqrt(max(0.0, 1.0 - dy * dy * inv))) if abs(dy) <= r else 0  # (half to even, as cvRound)
        kernel[i, max(0, r - dx) : min(size, r + dx + 1)] = True
    return kernel


@dataclass(frozen=True)
class ResidualMap:
    """caesar's residual parameters (caesar-rest names in brackets)."""

    zthr: float = 5.0  # (res-zthr)
    zhighthr: float = 10.0  # (res-zhighthr)
    kernel_size: int = 9  # (dilatekernsize)
    source_type: str = "POINT-LIKE"  # (res-removedsourcetype)
    remove_nested: bool = False  # (res-removenested)

    def removed(self, table: Table) -> npt.NDArray[np.bool_]:
        """Which islands of ``table`` are replaced whole (from their peak significance ``zmax``, ``morphId``
        and, with ``remove_nested``, whether they have nested sources)."""
        z = np.abs(np.asarray(table["zmax"], float))
        types = _TYPES[self.source_type]
        selected = np.ones(len(table), bool) if types is None else np.isin(np.asarray(table["morphId"]), types)
        out: npt.NDArray[np.bool_] = (z > self.zthr) & ((z > self.zhighthr) | (selected & ~self._to_nested(table)))
        return out

    def removed_nested(self, table: Table) -> list[tuple[int, int]]:
        """``(row, nested index)`` of the nested sources replaced instead of their mother."""
        z = np.abs(np.asarray(table["zmax"], float))
        types = _TYPES[self.source_type]
        rows = np.flatnonzero(self._to_nested(table) & (z > self.zthr) & (z <= self.zhighthr))
        return [
            (int(row), k)
            for row in rows
            for k, nested in enumerate(table["nested"][row])
            if types is None or int(nested["morphId"]) in types
        ]

    def _to_nested(self, table: Table) -> npt.NDArray[np.bool_]:
        if not self.remove_nested or "nested" not in table.colnames:
            return np.zeros(len(table), bool)
        return np.array([len(n) > 0 for n in table["nested"]], bool)

    def build(
        self,
        data: F32,
        maps: BackgroundMaps,
        table: Table,
        pixels: list[IslandPixels],
        origin: tuple[int, int] = (0, 0),
    ) -> F32:
        """The residual copy of ``data`` (a tile at ``origin`` of the full image)."""
        residual = np.array(data, dtype=np.float32, copy=True)
        chosen = np.flatnonzero(self.removed(table)) if len(table) else np.zeros(0, np.intp)
        nested = self.removed_nested(table) if len(table) else []
        if chosen.size == 0 and not nested:
            return residual
        mask = np.zeros(data.shape, bool)
        for i in chosen:
            mask[pixels[i].y.astype(np.intp) - origin[0], pixels[i].x.astype(np.intp) - origin[1]] = True
        for row, k in nested:
            xy = np.asarray(table["nested"][row][k]["pixel_xy"], np.intp)
            mask[xy[:, 1] - origin[0], xy[:, 0] - origin[1]] = True
        mask = ndimage.binary_dilation(mask, structure=ellipse_kernel(self.kernel_size))
        residual[mask] = maps.level[mask]
        return residual
