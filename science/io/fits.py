"""The only FITS reader and writer of the science package.

Accepted images: 2-D, or 3-D/4-D whose extra (spectral, Stokes) axes all have length 1; the first two
FITS axes must be celestial; ``BUNIT`` must be Jy/beam; the beam comes from ``BMAJ``/``BMIN``/``BPA``
(degrees) or from the caller, the pixel size from ``CDELT``/``CD`` or, when the header has neither, from the
caller (caesar ``mappixsize``). Blank pixels (NaN, ±Inf and, as in caesar, exact zeros) become NaN.
Integer images are read raw through the memory map and scaled here (``BZERO + BSCALE × value``, pixels equal
to ``BLANK`` blank): astropy refuses to memory-map a scaled image that has ``BLANK``.
Every failure is an :class:`~science.errors.InvalidImageError` naming the file.

A *region* ``(y0, y1, x0, x1)`` (half-open, 0-based; a stop of 0 runs to the plane's end) makes the reader
see only that part of the plane, as
caesar's ``read-subimg`` does: the info's shape is the region's, its WCS the region's (sliced), ``offset``
where it sits in the file, and sections are read relative to it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.wcs import WCS

from science.errors import InvalidImageError
from science.image import Beam, Image, pixel_scale_deg
from science.io.fits_header import beam_of, celestial_wcs, frequency_hz, unit_of
from science.io.naming import image_base_name

__all__ = ["ImageInfo", "image_base_name", "load_image", "load_image_info", "load_section", "write_image"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ImageInfo:
    """Everything about a FITS image except its pixels (validated header).

    Attributes
    ----------
    path, name
        File path and base name (file name without the FITS extension).
    shape
        ``(ny, nx)`` of the celestial plane.
    wcs, beam, unit, frequency_hz
        As in :class:`~science.image.Image`.
    hdu_index
        Index of the image HDU in the file.
    offset
        ``(y, x)`` in the file of pixel ``(0, 0)`` (a region's corner; ``(0, 0)`` for the whole plane).
    """

    path: str
    name: str
    shape: tuple[int, int]
    wcs: WCS
    beam: Beam
    unit: str
    frequency_hz: float | None
    hdu_index: int
    offset: tuple[int, int] = (0, 0)

    @property
    def pixscale_arcsec(self) -> float:
        """Geometric-mean pixel size, arcsec."""
        return pixel_scale_deg(self.wcs) * 3600.0


@contextmanager
def _open(path: str | Path) -> Iterator[fits.HDUList]:
    """Open a FITS file with memmap, mapping every low-level failure to InvalidImageError."""
    p = Path(path)
    if not p.is_file():
        raise InvalidImageError(f"{p} does not exist or is not a file", path=str(p))
    if p.stat().st_size == 0:
        raise InvalidImageError(f"{p.name} is an empty file (0 bytes), not a FITS image", path=str(p))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(p, memmap=True, mode="readonly", lazy_load_hdus=False, do_not_scale_image_data=True)
    except (OSError, ValueError, TypeError, KeyError, IndexError, fits.VerifyError) as exc:
        raise InvalidImageError(f"{p.name} is not a readable FITS file: {exc}", path=str(p)) from exc
    try:
        yield hdul
    except (OSError, ValueError, TypeError, IndexError, fits.VerifyError) as exc:
        raise InvalidImageError(f"{p.name} is truncated or corrupt: {exc}", path=str(p)) from exc
    finally:
        hdul.close()


def _image_hdu_index(hdul: fits.HDUList, name: str) -> int:
    for index, hdu in enumerate(hdul):
        if isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU) and int(hdu.header.get("NAXIS", 0)) >= 1:
            return index
    raise InvalidImageError(f"{name} has no image data (no HDU with NAXIS ≥ 1)")


def _plane_shape(header: fits.Header, name: str) -> tuple[int, int]:
    naxis = int(header.get("NAXIS", 0))
    dims = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    numpy_shape = tuple(reversed(dims))
    if naxis < 2 or naxis > 4:
        raise InvalidImageError(
            f"{name} must be a 2-D image (or 3-D/4-D with degenerate axes), got shape {numpy_shape}"
        )
    if any(d == 0 for d in dims):
        raise InvalidImageError(f"{name} has a zero-size axis, shape {numpy_shape}")
    if any(d != 1 for d in dims[2:]):
        raise InvalidImageError(
            f"{name} is a {naxis}-D cube with shape {numpy_shape}; only 2-D images or cubes whose "
            "third and fourth axes have length 1 are supported"
        )
    return dims[1], dims[0]


def _info_from(
    hdul: fits.HDUList,
    path: str | Path,
    beam: Beam | None,
    region: tuple[int, int, int, int] | None = None,
    pixel_arcsec: float | None = None,
) -> ImageInfo:
    name = Path(path).name
    index = _image_hdu_index(hdul, name)
    header = hdul[index].header
    shape = _plane_shape(header, name)
    wcs = celestial_wcs(header, name, pixel_arcsec)
    offset = (0, 0)
    if region is not None:
        y0, y1, x0, x1 = region
        y1, x1 = y1 or shape[0], x1 or shape[1]  # a stop of 0: to the plane's end
        if not (0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]):
            raise InvalidImageError(
                f"sub-image x[{x0}:{x1}] y[{y0}:{y1}] is not inside {name} of shape {shape} (ny, nx)"
            )
        wcs, shape, offset = wcs.slice((slice(y0, y1), slice(x0, x1))), (y1 - y0, x1 - x0), (y0, x0)
    return ImageInfo(
        path=str(path),
        name=image_base_name(path),
        shape=shape,
        wcs=wcs,
        beam=beam_of(header, name, beam),
        unit=unit_of(header, name),
        frequency_hz=frequency_hz(header, name),
        hdu_index=index,
        offset=offset,
    )


def _read_plane(hdul: fits.HDUList, info: ImageInfo, rows: slice, cols: slice) -> npt.NDArray[np.float32]:
    raw = hdul[info.hdu_index].data
    if raw is None:
        raise InvalidImageError(f"{Path(info.path).name} has an image header but no data")
    lead = (0,) * (raw.ndim - 2)
    (oy, ox), (ny, nx) = info.offset, info.shape
    rows = slice(oy + (rows.start or 0), oy + (ny if rows.stop is None else rows.stop))
    cols = slice(ox + (cols.start or 0), ox + (nx if cols.stop is None else cols.stop))
    section = _scaled(raw[(*lead, rows, cols)], hdul[info.hdu_index].header)
    section[~np.isfinite(section) | (section == 0.0)] = np.nan
    return section


def _scaled(raw: npt.NDArray[np.generic], header: fits.Header) -> npt.NDArray[np.float32]:
    """Physical float32 values of raw (unscaled) FITS pixels: ``BZERO + BSCALE × raw``, ``BLANK`` → NaN (integers)."""
    scale, zero = float(header.get("BSCALE", 1.0)), float(header.get("BZERO", 0.0))
    if scale == 1.0 and zero == 0.0 and raw.dtype.kind == "f":
        return np.array(raw, dtype=np.float32)
    values = np.asarray(raw, dtype=np.float64) * scale + zero
    blank = header.get("BLANK")
    if blank is not None and raw.dtype.kind in "iu":
        values[np.asarray(raw) == int(blank)] = np.nan
    return values.astype(np.float32)


def load_image_info(
    path: str | Path,
    *,
    beam: Beam | None = None,
    region: tuple[int, int, int, int] | None = None,
    pixel_arcsec: float | None = None,
) -> ImageInfo:
    """Read and validate a FITS header without reading the pixels.

    Parameters
    ----------
    path
        FITS file.
    beam
        Beam to use when the header has no ``BMAJ``/``BMIN``.
    region
        ``(y0, y1, x0, x1)`` of the plane to see as the image (module docstring); None: all of it.
    pixel_arcsec
        Pixel size to use when the header has none (neither ``CDELT`` nor a ``CD`` matrix).

    Returns
    -------
    ImageInfo

    Raises
    ------
    InvalidImageError
        Missing/empty/corrupt file, unsupported shape, no celestial WCS, no pixel size, no beam, units not
        Jy/beam.
    """
    with _open(path) as hdul:
        return _info_from(hdul, path, beam, region, pixel_arcsec)


def load_image(
    path: str | Path,
    *,
    beam: Beam | None = None,
    region: tuple[int, int, int, int] | None = None,
    pixel_arcsec: float | None = None,
) -> Image:
    """Read a whole FITS image (memory-mapped) into an :class:`~science.image.Image`.

    Parameters
    ----------
    path
        FITS file.
    beam
        Beam to use when the header has no ``BMAJ``/``BMIN``.
    region, pixel_arcsec
        As in :func:`load_image_info`.

    Returns
    -------
    Image
        float32 pixels with blanks (NaN, Inf, exact 0) as NaN.

    Raises
    ------
    InvalidImageError
        As :func:`load_image_info`, plus a truncated data unit or an image with no finite pixel.
    """
    with _open(path) as hdul:
        info = _info_from(hdul, path, beam, region, pixel_arcsec)
        data = _read_plane(hdul, info, slice(None), slice(None))
    if data.shape != info.shape:
        raise InvalidImageError(f"{Path(path).name} is truncated: data shape {data.shape} != header {info.shape}")
    if not np.isfinite(data).any():
        raise InvalidImageError(f"{Path(path).name} has no valid pixels (all blank: NaN, Inf or 0)")
    return Image(data, info.wcs, info.beam, info.name, info.unit, info.frequency_hz)


def load_section(
    path: str | Path,
    y0: int,
    y1: int,
    x0: int,
    x1: int,
    *,
    beam: Beam | None = None,
    region: tuple[int, int, int, int] | None = None,
    pixel_arcsec: float | None = None,
) -> tuple[ImageInfo, npt.NDArray[np.float32]]:
    """Read only the pixels ``[y0:y1, x0:x1]`` of a FITS image through a memory map.

    Parameters
    ----------
    path
        FITS file.
    y0, y1, x0, x1
        Half-open 0-based pixel ranges inside the image (inside the region, when one is given).
    beam
        Beam to use when the header has none.
    region, pixel_arcsec
        As in :func:`load_image_info`.

    Returns
    -------
    (ImageInfo, ndarray)
        The validated header of the whole image and the float32 section (blanks as NaN; may be all NaN).

    Raises
    ------
    InvalidImageError
        As :func:`load_image_info`, or when the section lies outside the image.
    """
    with _open(path) as hdul:
        info = _info_from(hdul, path, beam, region, pixel_arcsec)
        ny, nx = info.shape
        if not (0 <= y0 < y1 <= ny and 0 <= x0 < x1 <= nx):
            raise InvalidImageError(f"section y[{y0}:{y1}] x[{x0}:{x1}] is outside {info.name} of shape {info.shape}")
        data = _read_plane(hdul, info, slice(y0, y1), slice(x0, x1))
    if data.shape != (y1 - y0, x1 - x0):
        raise InvalidImageError(f"{Path(path).name} is truncated: section shape {data.shape}")
    return info, data


def write_image(path: str | Path, image: Image, *, overwrite: bool = True) -> Path:
    """Write an image as a 2-D FITS file with WCS, ``BUNIT``, ``BMAJ``/``BMIN``/``BPA`` and ``RESTFRQ``.

    Parameters
    ----------
    path
        Output file.
    image
        Image to write; NaN pixels stay NaN.
    overwrite
        Replace an existing file.

    Returns
    -------
    Path
        The written file.
    """
    header = image.wcs.to_header()
    header["BUNIT"] = "Jy/beam"
    header["BMAJ"] = image.beam.bmaj_arcsec / 3600.0
    header["BMIN"] = image.beam.bmin_arcsec / 3600.0
    header["BPA"] = image.beam.bpa_deg
    if image.frequency_hz is not None:
        header["RESTFRQ"] = image.frequency_hz
    out = Path(path)
    fits.PrimaryHDU(data=image.data, header=header).writeto(out, overwrite=overwrite)
    logger.debug("wrote %s %s", out, image.shape)
    return out
