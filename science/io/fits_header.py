"""Validation of a FITS image's header: celestial WCS and pixel size, beam, units, frequency.

Every failure is an :class:`~science.errors.InvalidImageError` naming the file (``name``).
"""

from __future__ import annotations

import logging
import math
import warnings

from astropy.io import fits
from astropy.wcs import WCS

from science.errors import InvalidImageError
from science.image import Beam

__all__ = ["beam_of", "celestial_wcs", "frequency_hz", "unit_of"]

logger = logging.getLogger(__name__)

_JY_PER_BEAM = {"JY/BEAM", "JY BEAM-1", "JY BEAM^-1", "JY.BEAM-1"}
_FREQ_UNITS = {"HZ": 1.0, "KHZ": 1e3, "MHZ": 1e6, "GHZ": 1e9}

#: Header keys that give the celestial axes a pixel size; without any, WCSLIB takes 1 degree.
_SCALE_KEYS = ("CDELT1", "CDELT2", "CD1_1", "CD1_2", "CD2_1", "CD2_2")


def celestial_wcs(header: fits.Header, name: str, pixel_arcsec: float | None = None) -> WCS:
    full = _wcs(header, name)
    if not full.has_celestial:
        raise InvalidImageError(f"{name} has no celestial WCS (CTYPE1/CTYPE2 must be RA/DEC-like)")
    if full.wcs.lng != 0 or full.wcs.lat != 1:
        raise InvalidImageError(f"{name}: the first two FITS axes must be the celestial (longitude, latitude) axes")
    if not any(key in header for key in _SCALE_KEYS):
        if pixel_arcsec is None:
            raise InvalidImageError(
                f"{name} has no pixel size (CDELT1/CDELT2 or a CD matrix); give one in arcsec (mappixsize)"
            )
        header = header.copy()
        header["CDELT1"], header["CDELT2"] = -pixel_arcsec / 3600.0, pixel_arcsec / 3600.0
        full = _wcs(header, name)
    return full.celestial


def _wcs(header: fits.Header, name: str) -> WCS:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return WCS(header)
    except (ValueError, KeyError, MemoryError, TypeError) as exc:
        raise InvalidImageError(f"{name} has an unreadable WCS: {exc}") from exc


def _number(header: fits.Header, key: str, name: str, default: float | None = None) -> float:
    """A header keyword's value as a float; InvalidImageError naming the keyword if it is not a number."""
    value = header.get(key, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidImageError(f"{name} has {key}={value!r}, which is not a number") from None


def beam_of(header: fits.Header, name: str, beam: Beam | None) -> Beam:
    if "BMAJ" in header and "BMIN" in header:
        bmaj = round(_number(header, "BMAJ", name) * 3600.0, 9)
        bmin = round(_number(header, "BMIN", name) * 3600.0, 9)
        bpa = _number(header, "BPA", name, 0.0)
        if bmin > bmaj:
            bmaj, bmin = bmin, bmaj
        try:
            return Beam(bmaj, bmin, bpa)
        except ValueError as exc:  # pragma: no cover - Beam raises ParameterError, kept for safety
            raise InvalidImageError(f"{name} has an invalid beam: {exc}") from exc
    if beam is not None:
        logger.info("%s has no BMAJ/BMIN; using the given beam %s", name, beam)
        return beam
    raise InvalidImageError(f"{name} has no beam (BMAJ/BMIN missing); pass beam=...")


def frequency_hz(header: fits.Header, name: str) -> float | None:
    """The image's frequency from its FREQ axis or RESTFRQ; None (logged) where they are missing or not numbers."""
    try:
        return _frequency_or_none(header)
    except (TypeError, ValueError) as exc:
        logger.warning("%s: frequency keywords are not numbers (%s); frequency unknown", name, exc)
        return None


def _frequency_or_none(header: fits.Header) -> float | None:
    for i in range(1, int(header.get("NAXIS", 0)) + 1):
        ctype = str(header.get(f"CTYPE{i}", "")).upper()
        if ctype.startswith("FREQ"):
            crval = float(header.get(f"CRVAL{i}", math.nan))
            crpix = float(header.get(f"CRPIX{i}", 1.0))
            cdelt = float(header.get(f"CDELT{i}", 0.0))
            scale = _FREQ_UNITS.get(str(header.get(f"CUNIT{i}", "Hz")).strip().upper(), 1.0)
            value = (crval + (1.0 - crpix) * cdelt) * scale
            return value if math.isfinite(value) else None
    for key in ("RESTFRQ", "RESTFREQ"):
        if key in header:
            return float(header[key])
    return None


def unit_of(header: fits.Header, name: str) -> str:
    bunit = header.get("BUNIT")
    norm = " ".join(str(bunit).upper().split()) if bunit is not None else ""
    if norm not in _JY_PER_BEAM:
        raise InvalidImageError(f"{name} has BUNIT={bunit!r}; only Jy/beam images are supported")
    return "Jy/beam"
