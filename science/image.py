"""In-memory radio image: pixels, celestial WCS, restoring beam and metadata."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS

from science.errors import InvalidImageError, ParameterError

__all__ = ["FWHM_TO_SIGMA", "Beam", "Image", "pixel_scale_deg"]

#: Multiply a Gaussian FWHM by this to get its standard deviation.
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass(frozen=True)
class Beam:
    """Elliptical Gaussian restoring beam.

    Parameters
    ----------
    bmaj_arcsec, bmin_arcsec
        Full widths at half maximum of the major and minor axes, arcsec.
    bpa_deg
        Position angle of the major axis, degrees east of north.

    Raises
    ------
    ParameterError
        If an axis is not a positive finite number or ``bmin_arcsec > bmaj_arcsec``.
    """

    bmaj_arcsec: float
    bmin_arcsec: float
    bpa_deg: float = 0.0

    def __post_init__(self) -> None:
        for name in ("bmaj_arcsec", "bmin_arcsec"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(f"beam {name} must be a positive finite number, got {value!r}")
        if self.bmin_arcsec > self.bmaj_arcsec:
            raise ParameterError(
                f"beam bmin_arcsec ({self.bmin_arcsec}) must not exceed bmaj_arcsec ({self.bmaj_arcsec})"
            )
        if not math.isfinite(self.bpa_deg):
            raise ParameterError(f"beam bpa_deg must be finite, got {self.bpa_deg!r}")

    def area_pixels(self, pixscale_arcsec: float) -> float:
        """Beam area in pixels, ``π·bmaj·bmin / (4 ln 2) / pixscale²`` (caesar's ``beamArea``)."""
        return math.pi * self.bmaj_arcsec * self.bmin_arcsec / (4.0 * math.log(2.0)) / pixscale_arcsec**2

    def size_pixels(self, pixscale_arcsec: float) -> float:
        """Geometric-mean FWHM in pixels, ``sqrt(bmaj·bmin) / pixscale``."""
        return math.sqrt(self.bmaj_arcsec * self.bmin_arcsec) / pixscale_arcsec


def pixel_scale_deg(wcs: WCS) -> float:
    """Geometric-mean pixel size of a celestial WCS in degrees, ``sqrt(|dX·dY|)``."""
    # astropy.wcs.utils.proj_plane_pixel_scales, without importing astropy.coordinates through that module.
    scales = np.sqrt((wcs.pixel_scale_matrix**2).sum(axis=0, dtype=float))
    return float(math.sqrt(abs(float(scales[0]) * float(scales[1]))))


@dataclass(frozen=True, eq=False)
class Image:
    """A 2-D radio image in Jy/beam with its celestial WCS and beam.

    Parameters
    ----------
    data
        Pixel values, float32, shape ``(ny, nx)``; blank pixels are NaN.
    wcs
        Two-axis celestial WCS (pixel ``(x, y)`` → RA, Dec).
    beam
        Restoring beam.
    name
        Base name of the image (file name without extension), used for output file names.
    unit
        Brightness unit, always ``"Jy/beam"`` for images the extractor accepts.
    frequency_hz
        Spectral axis value, or None when the header has none.

    Raises
    ------
    InvalidImageError
        If ``data`` is not 2-D or the WCS is not two-axis celestial.
    """

    data: npt.NDArray[np.float32]
    wcs: WCS
    beam: Beam
    name: str = "image"
    unit: str = "Jy/beam"
    frequency_hz: float | None = None
    pixscale_deg: float = field(init=False)

    def __post_init__(self) -> None:
        if self.data.ndim != 2:
            raise InvalidImageError(f"image {self.name} must be 2-D, got shape {self.data.shape}")
        if self.data.dtype != np.float32:
            object.__setattr__(self, "data", np.asarray(self.data, dtype=np.float32))
        if self.wcs.naxis != 2 or not self.wcs.has_celestial:
            raise InvalidImageError(f"image {self.name} needs a 2-axis celestial WCS, got {self.wcs.naxis} axes")
        object.__setattr__(self, "pixscale_deg", pixel_scale_deg(self.wcs))

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        ny, nx = self.data.shape
        return int(ny), int(nx)

    @property
    def pixscale_arcsec(self) -> float:
        """Geometric-mean pixel size, arcsec."""
        return self.pixscale_deg * 3600.0

    @property
    def beam_area_pixels(self) -> float:
        """Beam area in pixels (caesar ``beamArea``)."""
        return self.beam.area_pixels(self.pixscale_arcsec)

    @property
    def beam_size_pixels(self) -> float:
        """Geometric-mean beam FWHM in pixels."""
        return self.beam.size_pixels(self.pixscale_arcsec)
