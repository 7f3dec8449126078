"""caesar's wavelet extended-source search (``extsfinder = WT-THRESH``, ``SFinder::FindExtendedSources_WT``).

The search image (caesar's residual map with ``computeresiduals``, else the image; blank pixels 0, smoothed
as for the saliency search but not binned) is decomposed by the stationary "à trous" wavelet transform of
caesar's ``WTFilter::GetDecomposition``: ``F₀`` = image, ``Fₙ = Fₙ₋₁ ⊛ₙ H``, ``Wₙ₋₁ = Fₙ₋₁ − Fₙ`` for
``n = 1 … N`` and ``W_N = F_N`` (``N`` = ``wtscalemax``), where ``⊛ₙ`` takes the taps of the B3-spline kernel
``H = [1 4 6 4 1]ᵀ[1 4 6 4 1] / 256`` ``2ⁿ⁻¹`` pixels apart, edges mirrored (``MathUtils::GetMirrorIndex``).
caesar's loop (``MathUtils::GetATrousConvolution``) runs the tap offsets over −2 … 1, so only the first four
rows and columns of ``H`` are used (weights summing to 225/256); kept as caesar has it.

Each scale ``W_k``, ``k = wtscalemin … wtscalemax`` (the last one is the smooth remainder ``F_N``), gets its
own background and noise maps with the image's background settings (``ComputeStatsAndBkg``) and is
thresholded as the compact search is (seed and merge thresholds, ``npixmin``). The union of every scale's
islands is labelled (4-connected, ``npixmin`` pixels) into sources of the image's pixels, EXTENDED and named
``Sext<k>``, with the saliency search's integrated S/N check (:func:`science.extract.extended.extended_islands`,
not in caesar; ``extended-minsnr`` 0 keeps every one).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from astropy.wcs import WCS

from science.errors import ParameterError
from science.extract.background import BackgroundEstimator, BackgroundMaps
from science.extract.extended import extended_islands
from science.extract.islands import IslandFinder, IslandPixels
from science.extract.pipeline import estimate_maps
from science.extract.smoothing import gaussian_smooth, guided_filter

__all__ = ["WaveletFinder", "atrous_decomposition", "atrous_planes"]

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
B8 = npt.NDArray[np.bool_]

#: The taps caesar's à trous loop applies (offsets −2 … 1 of the B3 spline ``[1 4 6 4 1] / 16``), per axis.
TAPS = ((-2, 1.0 / 16), (-1, 4.0 / 16), (0, 6.0 / 16), (1, 4.0 / 16))


def _atrous_step(image: F64, gap: int) -> F64:
    """One à trous convolution with taps ``gap`` pixels apart, separably, mirrored edges."""
    out = image
    for axis in (0, 1):
        n = out.shape[axis]
        index = np.arange(n)
        acc = np.zeros_like(out)
        for offset, weight in TAPS:
            at = index + gap * offset
            at = np.where(at < 0, -at, np.where(at > n - 1, 2 * (n - 1) - at, at))
            acc += weight * np.take(out, np.clip(at, 0, n - 1), axis=axis)
        out = acc
    return out


def atrous_planes(image: npt.NDArray[np.floating], n_scales: int) -> Iterator[tuple[int, F64]]:
    """caesar's wavelet planes ``(k, W_k)``, ``k = 0 … N`` (``W_N = F_N``, the remainder; module docstring),
    one at a time: two smoothed images and one plane in memory.

    Raises
    ------
    ParameterError
        If ``n_scales < 1``.
    """
    if n_scales < 1:
        raise ParameterError(f"need at least one wavelet scale, got {n_scales}")
    previous = np.asarray(image, np.float64)
    for n in range(1, n_scales + 1):
        smooth = _atrous_step(previous, 2 ** (n - 1))
        yield n - 1, previous - smooth
        previous = smooth
    yield n_scales, previous


def atrous_decomposition(image: npt.NDArray[np.floating], n_scales: int) -> list[F64]:
    """All of :func:`atrous_planes` in a list ``[W₀, …, W_N]``."""
    return [plane for _, plane in atrous_planes(image, n_scales)]


@dataclass(frozen=True)
class WaveletFinder:
    """caesar WT-THRESH extended-source search (caesar-rest option names in brackets).

    Parameters
    ----------
    min_scale, max_scale
        Wavelet scales searched (``wtscalemin`` 3, ``wtscalemax`` 6).
    background, islands, skip_outliers
        The image's background estimator, the compact search's thresholds (``seedthr``, ``mergethr``,
        ``npixmin``) and ``bkgskipoutliers``, applied to every scale.
    smoothing
        ``(presmoothing, smoothfilter, guidedfilter-radius, guidedfilter-eps)`` of the search image.
    npixmin, min_snr
        Fewest pixels of a source (``npixmin``); integrated S/N outside compact islands (``extended-minsnr``).
    """

    background: BackgroundEstimator
    islands: IslandFinder
    min_scale: int = 3
    max_scale: int = 6
    skip_outliers: bool = False
    smoothing: tuple[bool, str, int, float] = (True, "GUIDED", 12, 0.04)
    npixmin: int = 5
    min_snr: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_scale <= self.max_scale or self.max_scale < 1:
            raise ParameterError(
                f"need 0 ≤ wtscalemin ≤ wtscalemax and wtscalemax ≥ 1, got {self.min_scale}, {self.max_scale}"
            )

    def search_image(self, data: F32) -> F32:
        """The smoothed copy of ``data`` the transform runs on (blank pixels 0)."""
        image = np.where(np.isfinite(data), data, np.float32(0)).astype(np.float32)
        on, kind, radius, eps = self.smoothing
        if not on:
            return image
        return guided_filter(image, radius, eps) if kind == "GUIDED" else gaussian_smooth(image)

    def mask(
        self,
        search: F32,
        beam_pixels: float,
        origin: tuple[int, int] = (0, 0),
        full_shape: tuple[int, int] | None = None,
    ) -> B8:
        """Union of the islands found on every searched wavelet scale of ``search``."""
        out = np.zeros(search.shape, bool)
        for k, full in atrous_planes(self.search_image(search), self.max_scale):
            if k < self.min_scale:
                continue
            plane = full.astype(np.float32)
            del full
            skip = self.islands if self.skip_outliers else None
            maps = estimate_maps(plane, self.background, beam_pixels, skip=skip, origin=origin, full_shape=full_shape)
            out |= self.islands.mask(maps.significance(plane))
        valid: B8 = out & np.isfinite(search) & (search != 0)
        return valid

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
        """Extended sources of ``data`` found on the wavelet scales of ``search`` (default ``data``)."""
        if not beam_pixels > 0:
            raise ParameterError("the wavelet search needs the beam size in pixels (its background boxes)")
        candidates = self.mask(data if search is None else search, beam_pixels, origin, full_shape)
        logger.debug("wavelet scales %d-%d: %d candidate pixels", self.min_scale, self.max_scale, int(candidates.sum()))
        geometry = {"wcs": wcs, "frequency_hz": frequency_hz, "origin": origin, "full_shape": full_shape}
        return extended_islands(
            candidates, data, maps, compact_mask, self.npixmin, self.min_snr, beam_area_pixels, **geometry
        )
