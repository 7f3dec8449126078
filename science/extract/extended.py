"""Extended sources (caesar ``extsfinder = SALIENCY-THRESH``, §8; ``WT-THRESH``: :mod:`science.extract.wavelet`)
and the merge of compact and extended sources.

:class:`ExtendedFinder` searches an unmodified copy of the image (caesar with ``computeresiduals`` off):
blank pixels (NaN, or 0 as in caesar) are set to 0, the copy is pre-smoothed
(:mod:`science.extract.smoothing`), its multi-scale saliency is thresholded
(:mod:`science.extract.saliency`) and the mask is flood-filled (4-connected, ``npixmin`` pixels) into
sources named ``Sext<k>`` with ``MorphId`` EXTENDED (3), whose columns come from the image, background and
rms as for compact islands.

Not in caesar: a candidate is kept only if its emission *outside* compact islands has an integrated
signal-to-noise ``Σ(I − B) / sqrt(2·beamArea·Σσ²)`` ≥ ``min_snr`` (the noise of a sum over pixels whose
noise is correlated over the beam). Saliency is relative (each map is scaled by its own range), so
without this check pure noise, or the halo of a bright compact source, also yields "extended" blobs;
``min_snr = 0`` keeps every candidate as caesar does.

:class:`ExtendedStage` runs the search and caesar's merge (``MergeTaskSources``, on unless
``no-mergesources``): the union mask of compact and extended sources is split into 4-connected
components; a component without extended pixels is an unchanged compact island, the others become new
islands (nested search again); every island then gets ``MorphId`` COMPACT (1) if ``npix / beamArea ≤
fit-maxnbeams``, else EXTENDED (3), and COMPACT-EXTENDED (4) if it is EXTENDED and holds a COMPACT nested
source; names are renumbered ``S1…Sn`` in scan order. Without merging the extended sources follow the
compact ones, named ``Sext<k>``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from astropy.wcs import WCS

from science.errors import ParameterError
from science.extract.background import BackgroundMaps
from science.extract.islands import IslandPixels, LabelIslands, pixel_mask
from science.extract.nested import NestedFinder
from science.extract.params import SMOOTH_FILTERS
from science.extract.saliency import saliency_mask
from science.extract.smoothing import bin_image, gaussian_smooth, guided_filter
from science.extract.sources import scan_order, stack_islands

__all__ = ["ExtendedFinder", "ExtendedSearch", "ExtendedStage", "assign_morphology", "extended_islands"]

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
B8 = npt.NDArray[np.bool_]

COMPACT, POINT_LIKE, EXTENDED, COMPACT_EXTENDED = 1, 2, 3, 4


@dataclass(frozen=True)
class ExtendedFinder:
    """caesar SALIENCY-THRESH extended-source search (caesar-rest option names in brackets).

    Parameters
    ----------
    presmoothing
        Smooth the search image first (off: ``no-presmoothing``).
    smooth_filter
        ``GUIDED`` or ``GAUSSIAN`` (``smoothfilter``).
    guided_radius, guided_eps
        Guided filter box side in pixels and ε (``guidedfilter-radius`` 12, ``guidedfilter-eps`` 0.04).
    min_reso, max_reso, reso_step
        Superpixel sizes in pixels (``saliency-minreso`` 20, ``saliency-maxreso`` 60, ``saliency-resostep`` 10).
    knn_factor
        Fraction of the least similar superpixels averaged (``saliency-nn``, 1 = all).
    thr_factor
        Threshold factor (``saliency-thr``, 2.8).
    optimal_thr
        Optimal thresholds (off: ``saliency-nooptimalthr``, then ``thr_factor × median``).
    use_bkg_map, use_rms_map, robust
        ``saliency-usebkgmap``, ``saliency-usermsmap``, ``saliency-userobustpars``.
    npixmin
        Fewest pixels of a source (``npixmin``).
    min_snr
        Integrated S/N outside compact islands a source needs (not in caesar; 0 keeps all).

    Raises
    ------
    ParameterError
        For out-of-range values.
    """

    presmoothing: bool = True
    smooth_filter: str = "GUIDED"
    guided_radius: int = 12
    guided_eps: float = 0.04
    min_reso: int = 20
    max_reso: int = 60
    reso_step: int = 10
    knn_factor: float = 1.0
    thr_factor: float = 2.8
    optimal_thr: bool = True
    use_bkg_map: bool = False
    use_rms_map: bool = False
    robust: bool = False
    npixmin: int = 5
    min_snr: float = 5.0

    def __post_init__(self) -> None:
        if self.smooth_filter not in SMOOTH_FILTERS:
            raise ParameterError(f"smooth_filter must be one of {sorted(SMOOTH_FILTERS)}, got {self.smooth_filter!r}")
        if self.guided_radius < 1 or not self.guided_eps >= 0:
            raise ParameterError(
                f"need guided_radius ≥ 1 and guided_eps ≥ 0, got {self.guided_radius}, {self.guided_eps}"
            )
        if not 1 <= self.min_reso <= self.max_reso or self.reso_step < 1:
            raise ParameterError(
                f"need 1 ≤ min_reso ≤ max_reso and reso_step ≥ 1, got {self.min_reso}, {self.max_reso}, {self.reso_step}"
            )
        if not 0 <= self.knn_factor <= 1 or not self.thr_factor >= 0 or not self.min_snr >= 0 or self.npixmin < 1:
            raise ParameterError("need 0 ≤ knn_factor ≤ 1, thr_factor ≥ 0, min_snr ≥ 0 and npixmin ≥ 1")

    @property
    def scales(self) -> list[int]:
        """Superpixel sizes ``min_reso, min_reso + reso_step, … ≤ max_reso`` (caesar's ``nReso``)."""
        return list(range(self.min_reso, self.max_reso + 1, self.reso_step))

    @property
    def work_factor(self) -> int:
        """Binning of the search image: ``min(2, max(1, min_reso // 10))`` (2 at caesar-rest defaults)."""
        return min(2, max(1, self.min_reso // 10))

    def search_image(self, data: F32, valid: B8) -> tuple[F32, B8]:
        """The binned, smoothed copy of ``data`` the saliency runs on (blank pixels 0) and its valid pixels."""
        f = self.work_factor
        image, has = bin_image(data, valid, f)
        if not self.presmoothing:
            return image, has
        if self.smooth_filter == "GUIDED":
            return guided_filter(image, max(1, round(self.guided_radius / f)), self.guided_eps), has
        return gaussian_smooth(image), has

    def mask(self, data: F32, maps: BackgroundMaps) -> B8:
        """Pixels of extended-source candidates (the thresholded saliency), before flood fill."""
        valid = np.isfinite(data) & (data != 0)
        f = self.work_factor
        extra = tuple(
            bin_image(m, valid, f)[0]
            for use, m in ((self.use_bkg_map, maps.level), (self.use_rms_map, maps.rms))
            if use
        )
        search, has = self.search_image(data, valid)
        result = saliency_mask(
            search,
            has,
            scales=[max(1, round(s / f)) for s in self.scales],
            knn_factor=self.knn_factor,
            thr_factor=self.thr_factor,
            optimal=self.optimal_thr,
            robust=self.robust,
            extra_maps=extra,
        )
        mask = result.mask
        if f > 1:
            mask = np.repeat(np.repeat(mask, f, axis=0), f, axis=1)[: data.shape[0], : data.shape[1]]
        mask &= valid
        return mask

    def find(
        self,
        data: F32,
        maps: BackgroundMaps,
        compact_mask: B8,
        *,
        wcs: WCS,
        beam_area_pixels: float,
        frequency_hz: float | None,
        origin: tuple[int, int] = (0, 0),
        full_shape: tuple[int, int] | None = None,
        search: F32 | None = None,
        beam_pixels: float = 0.0,
    ) -> tuple[Table, list[IslandPixels]]:
        """Extended sources of ``data`` (island columns, ``Sext<k>``, EXTENDED) and their pixels.

        ``compact_mask`` marks the compact-island pixels of ``data`` (for the ``min_snr`` check); the saliency
        runs on ``search`` if given (caesar's residual map), else on ``data`` (``beam_pixels`` is not used).
        """

        candidates = self.mask(data if search is None else search, maps)
        geometry = {"wcs": wcs, "frequency_hz": frequency_hz, "origin": origin, "full_shape": full_shape}
        return extended_islands(
            candidates, data, maps, compact_mask, self.npixmin, self.min_snr, beam_area_pixels, **geometry
        )


def extended_islands(
    candidates: B8,
    data: F32,
    maps: BackgroundMaps,
    compact_mask: B8,
    npixmin: int,
    min_snr: float,
    beam_area_pixels: float,
    **geometry: Any,
) -> tuple[Table, list[IslandPixels]]:
    """The extended sources of a candidate mask: its 4-connected components of ``npixmin`` pixels or more
    with the integrated S/N ``min_snr`` outside compact islands (module docstring), as islands of ``data``
    named ``Sext<k>``, EXTENDED."""

    def significant(inside: npt.NDArray[np.intp], labels: npt.NDArray[np.int32], n: int) -> B8:
        out = ~compact_mask.ravel()[inside]
        idx, lab = inside[out], labels[out]
        signal = np.bincount(lab, np.nan_to_num(data.ravel()[idx] - maps.level.ravel()[idx]), n + 1)
        var = np.bincount(lab, maps.rms.ravel()[idx].astype(np.float64) ** 2, n + 1)
        ok: B8 = (var > 0) & (signal >= min_snr * np.sqrt(2.0 * beam_area_pixels * var))
        return ok

    finder = LabelIslands.of_mask(candidates, npixmin, significant if min_snr > 0 else None)
    table, pixels = finder.islands(data, maps, beam_area_pixels=beam_area_pixels, **geometry)
    table["morphId"] = EXTENDED
    table["name"] = [f"Sext{k + 1}" for k in range(len(table))]
    logger.debug("%d extended sources", len(table))
    return table, pixels


class ExtendedSearch(Protocol):
    """An extended-source method (:class:`ExtendedFinder`, :class:`science.extract.wavelet.WaveletFinder`)."""

    def find(
        self,
        data: F32,
        maps: BackgroundMaps,
        compact_mask: B8,
        *,
        wcs: WCS,
        beam_area_pixels: float,
        frequency_hz: float | None,
        origin: tuple[int, int] = (0, 0),
        full_shape: tuple[int, int] | None = None,
        search: F32 | None = None,
        beam_pixels: float = 0.0,
    ) -> tuple[Table, list[IslandPixels]]:
        """Extended sources of ``data`` (island columns, ``Sext<k>``, EXTENDED) and their pixels."""
        ...


def assign_morphology(table: Table, max_nbeams: float) -> None:
    """caesar's merged-source morphology in place: COMPACT / EXTENDED by ``npix / beamArea ≤ max_nbeams``,
    COMPACT-EXTENDED for an EXTENDED mother with a compact nested source (nested dicts updated too); a
    compact source the selection tagged POINT-LIKE stays so (caesar changes it only when merging it)."""
    if len(table) == 0:
        return
    area = float(table["beamArea"][0])
    big = np.asarray(table["npix"], float) / area > max_nbeams
    morph = np.where(big, EXTENDED, np.where(np.asarray(table["morphId"]) == POINT_LIKE, POINT_LIKE, COMPACT))
    for row, nested in enumerate(table["nested"]):
        for n in nested:
            small = COMPACT if n["morphId"] != POINT_LIKE else POINT_LIKE
            n["morphId"] = EXTENDED if float(n["npix"]) / area > max_nbeams else small
        if big[row] and any(n["morphId"] in (COMPACT, POINT_LIKE) for n in nested):
            morph[row] = COMPACT_EXTENDED
    table["morphId"] = morph


@dataclass(frozen=True)
class ExtendedStage:
    """Extended-source search (``finder``, None = off) and merge (``merge``) after the compact search.

    ``nested`` searches nested sources in merged islands (None = off); ``max_nbeams`` is ``fit-maxnbeams``.
    """

    finder: ExtendedSearch | None
    merge: bool
    max_nbeams: float
    nested: NestedFinder | None = None

    def run(
        self,
        table: Table,
        pixels: list[IslandPixels],
        *,
        data: F32,
        maps: BackgroundMaps,
        wcs: WCS,
        beam_pixels: float,
        beam_area_pixels: float,
        frequency_hz: float | None,
        origin: tuple[int, int] = (0, 0),
        full_shape: tuple[int, int] | None = None,
        search: F32 | None = None,
    ) -> tuple[Table, list[IslandPixels]]:
        """Compact islands (and their pixels, row order) → the final islands and pixels (the extended search
        on ``search``, caesar's residual map, if given)."""
        geometry: dict[str, Any] = {
            "wcs": wcs, "beam_area_pixels": beam_area_pixels, "frequency_hz": frequency_hz, "origin": origin,
            "full_shape": full_shape,
        }  # fmt: skip
        if self.finder is not None:
            compact = pixel_mask(pixels, data.shape, origin)
            ext, ext_pixels = self.finder.find(data, maps, compact, search=search, beam_pixels=beam_pixels, **geometry)
            if len(ext) and self.merge:
                table, pixels = self._merge(table, pixels, ext_pixels, data, maps, beam_pixels, geometry)
            elif len(ext):
                return stack_islands([table, ext]), [*pixels, *ext_pixels]
        if not self.merge:
            return table, pixels
        assign_morphology(table, self.max_nbeams)
        return table, pixels

    def _merge(
        self,
        table: Table,
        pixels: list[IslandPixels],
        ext_pixels: list[IslandPixels],
        data: F32,
        maps: BackgroundMaps,
        beam_pixels: float,
        geometry: dict[str, Any],
    ) -> tuple[Table, list[IslandPixels]]:
        """caesar's merge: compact islands overlapping or 4-adjacent to an extended source join it."""
        origin, shape = geometry["origin"], data.shape
        ext_label = np.zeros(shape, np.int32)
        for k, p in enumerate(ext_pixels, start=1):
            ext_label[p.y.astype(np.intp) - origin[0], p.x.astype(np.intp) - origin[1]] = k
        n_ext = len(ext_pixels)
        group = np.arange(n_ext + len(pixels))  # union-find over extended (0…) then compact (n_ext…) sources
        if pixels:
            owner = np.repeat(np.arange(len(pixels)), [len(p.x) for p in pixels])
            ys = np.concatenate([p.y for p in pixels]).astype(np.intp) - origin[0]
            xs = np.concatenate([p.x for p in pixels]).astype(np.intp) - origin[1]
            for dy, dx in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                yy, xx = ys + dy, xs + dx
                inside = (yy >= 0) & (yy < shape[0]) & (xx >= 0) & (xx < shape[1])
                hit = ext_label[yy[inside], xx[inside]]
                for c, e in set(zip(owner[inside][hit > 0].tolist(), (hit[hit > 0] - 1).tolist(), strict=True)):
                    _union(group, e, n_ext + c)
        roots = np.array([_find(group, i) for i in range(len(group))])
        merged_label = np.zeros(n_ext + len(pixels), np.int32)
        ext_roots = np.unique(roots[:n_ext])
        merged_label[np.isin(roots, ext_roots)] = np.searchsorted(ext_roots, roots[np.isin(roots, ext_roots)]) + 1
        labels = np.zeros(shape, np.int32)
        for k, p in enumerate(ext_pixels):
            labels[p.y.astype(np.intp) - origin[0], p.x.astype(np.intp) - origin[1]] = merged_label[k]
        absorbed = merged_label[n_ext:] > 0
        if absorbed.any():
            into = merged_label[n_ext + owner]
            labels[ys[into > 0], xs[into > 0]] = into[into > 0]
        merged, merged_pixels = LabelIslands(labels, len(ext_roots), 1).islands(data, maps, **geometry)
        if self.nested is not None and len(merged):
            self.nested.find(
                merged, merged_pixels, data=data, level=maps.level, origin=origin, beam_pixels=beam_pixels,
                wcs=geometry["wcs"],
            )  # fmt: skip
        kept = ~absorbed
        out = stack_islands([table[kept] if len(table) else table, merged])
        all_pixels = [p for p, k in zip(pixels, kept, strict=True) if k] + merged_pixels
        order = scan_order(out)
        out = out[order]
        out["name"] = [f"S{k + 1}" for k in range(len(out))]
        logger.debug("merge: %d compact islands absorbed into %d merged islands", int(absorbed.sum()), len(merged))
        return out, [all_pixels[i] for i in order]


def _find(parent: npt.NDArray[np.int64], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i


def _union(parent: npt.NDArray[np.int64], a: int, b: int) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)
