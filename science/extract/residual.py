"""caesar's compact-source residual map (``computeresiduals``; ``Image::GetSourceResidual``, dilation model).

A copy of the image in which compact sources are replaced by the background: a source is removed when
the significance of its seed (brightest) pixel is above ``res-zthr`` and either above ``res-zhighthr`` or of
the type ``res-removedsourcetype`` (POINT-LIKE by default: sources :mod:`science.extract.selection` tagged;
caesar compares the morphology id, so ``COMPACT`` does not take POINT-LIKE ones; ``ALL`` takes every one). Its pixels, dilated by an elliptical kernel of
``dilatekernsize`` pixels (OpenCV ``MORPH_ELLIPSE``), take the background level map's values (caesar's
default ``residualModel`` 1, not randomised). With ``res-removenested``, a source below ``res-zhighthr``
that has nested sources keeps its own pixels and loses those of its nested sources of the removed type
(every one with ``ALL``; caesar checks no significance for them). caesar then runs the extended-source
search on this map. With ``res-bkgaroundsource`` a removed source takes instead the median of the pixels,
outside every source, of its bounding box grown by ``sourcebkgboxborder`` px (one source after the other, as
caesar; in a tile, the box stops at the tile's edge).

With ``res-pssubtractionmethod`` FITMODEL (caesar ``ePS_MODELSUBTRACTION``) a removed source that has been
fitted has its fitted Gaussians subtracted instead (each evaluated at the pixel centres of a box of ±⌈5σx⌉ by ±⌈5σy⌉
px around its centre pixel, as caesar's ``FillFromSourceFitModel``), first for all of them, then the others
are dilated — when ``res-removedsourcetype`` is ALL, COMPACT or POINT-LIKE (EXTENDED dilates every one). A
nested source removed instead of its mother goes by its *mother's* fit, as caesar's code does: a fitted mother's
nested sources subtract their own fits (none: nothing is removed), an unfitted mother's are dilated. In an
extraction the residual map is made before the fit, in caesar (``SFinder``: compact search, residual, extended
search, then the fit) as here, so no source has a fit yet and FITMODEL dilates every one, as DILATION does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from scipy import ndimage

from science.extract.background import BackgroundMaps
from science.extract.gaussian import gaussian_model
from science.extract.islands import IslandPixels, pixel_mask

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
    bkg_around_source: bool = False  # (res-bkgaroundsource)
    box_border: int = 20  # (sourcebkgboxborder)
    fit_model: bool = False  # (res-pssubtractionmethod FITMODEL)

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
        targets = self._targets(table, pixels, origin) if len(table) else []
        models = [model for _, _, model in targets if model is not None]
        for model in models:
            _subtract(residual, model, origin)
        targets = [(ys, xs, model) for ys, xs, model in targets if model is None]
        if not targets:
            return residual
        kernel = ellipse_kernel(self.kernel_size)
        if not self.bkg_around_source:
            mask = np.zeros(data.shape, bool)
            for ys, xs, _ in targets:
                mask[ys, xs] = True
            mask = ndimage.binary_dilation(mask, structure=kernel)
            residual[mask] = maps.level[mask]
            return residual
        # caesar: one source after the other, each dilated and set to the median of the pixels in a box
        # ``box_border`` px around it that belong to no source (read from the residual as it is by then)
        in_source = pixel_mask(pixels, data.shape, origin)
        r = kernel.shape[0] // 2
        for ys, xs, _ in targets:
            y0, y1 = max(0, int(ys.min()) - self.box_border), min(data.shape[0], int(ys.max()) + self.box_border + 1)
            x0, x1 = max(0, int(xs.min()) - self.box_border), min(data.shape[1], int(xs.max()) + self.box_border + 1)
            box = residual[y0:y1, x0:x1]
            sample = box[~in_source[y0:y1, x0:x1] & np.isfinite(box)]
            if sample.size == 0:
                continue  # caesar skips a source whose box has no background pixel
            wy0, wx0 = max(0, int(ys.min()) - r), max(0, int(xs.min()) - r)
            wy1, wx1 = min(data.shape[0], int(ys.max()) + r + 1), min(data.shape[1], int(xs.max()) + r + 1)
            local = np.zeros((wy1 - wy0, wx1 - wx0), bool)
            local[ys - wy0, xs - wx0] = True
            local = ndimage.binary_dilation(local, structure=kernel)
            residual[wy0:wy1, wx0:wx1][local] = np.float32(np.median(sample.astype(np.float64)))
        return residual

    def _targets(
        self, table: Table, pixels: list[IslandPixels], origin: tuple[int, int]
    ) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], list[dict[str, Any]] | None]]:
        """Tile pixel rows and columns of each source (or nested source) to replace, in caesar's order, with
        the fitted components to subtract instead (None: dilate it; see the module docstring)."""
        whole = self.removed(table)
        nested: dict[int, list[int]] = {}
        for row, k in self.removed_nested(table):
            nested.setdefault(row, []).append(k)
        by_model = self.fit_model and self.source_type != "EXTENDED"
        fitted = (
            [by_model and len(comps) > 0 for comps in table["components"]] if "components" in table.colnames else []
        )
        out = []
        for row in range(len(table)):
            if whole[row]:
                isl = pixels[row]
                model = list(table["components"][row]) if fitted and fitted[row] else None
                out.append((isl.y.astype(np.intp) - origin[0], isl.x.astype(np.intp) - origin[1], model))
            for k in nested.get(row, []):
                source = table["nested"][row][k]
                xy = np.asarray(source["pixel_xy"], np.intp)
                model = list(source.get("components", [])) if fitted and fitted[row] else None  # the mother's fit
                out.append((xy[:, 1] - origin[0], xy[:, 0] - origin[1], model))
        return out


def _subtract(residual: F32, components: list[dict[str, Any]], origin: tuple[int, int]) -> None:
    """Subtract fitted components (full-image pixel positions) from a tile at ``origin``, in place."""
    ny, nx = residual.shape
    for comp in components:
        sx, sy = float(comp["sx"]), float(comp["sy"])
        x0, y0 = float(comp["x"]), float(comp["y"])
        cx, cy = math.floor(x0 + 0.5) - origin[1], math.floor(y0 + 0.5) - origin[0]
        hx, hy = math.ceil(5.0 * sx), math.ceil(5.0 * sy)
        xa, xb, ya, yb = max(cx - hx, 0), min(cx + hx + 1, nx), max(cy - hy, 0), min(cy + hy + 1, ny)
        if xa >= xb or ya >= yb:
            continue
        yy, xx = np.mgrid[ya:yb, xa:xb]
        params = np.array([float(comp["Speak(Jy/beam)"]), x0, y0, sx, sy, math.radians(float(comp["theta"]))])
        model = gaussian_model(params, (xx + origin[1]).ravel().astype(float), (yy + origin[0]).ravel().astype(float))
        residual[ya:yb, xa:xb] -= model.reshape(yy.shape).astype(np.float32)
