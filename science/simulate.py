"""Simulated radio images with a truth table: point sources convolved with the beam in correlated noise."""

from __future__ import annotations

import logging
import math

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from astropy.wcs import WCS
from scipy.signal import fftconvolve

from science.errors import ParameterError
from science.image import FWHM_TO_SIGMA, Beam, Image

__all__ = ["TRUTH_COLUMNS", "beam_kernel", "make_sim_wcs", "simulate_image"]

logger = logging.getLogger(__name__)

#: Columns of the truth table returned by :func:`simulate_image`.
TRUTH_COLUMNS = ("name", "x", "y", "ra", "dec", "peak_jy", "flux_jy", "snr", "kind")


def make_sim_wcs(shape: tuple[int, int], pixscale_arcsec: float, ref_ra_deg: float, ref_dec_deg: float) -> WCS:
    """Celestial SIN-projection WCS centred on the image, RA increasing to the left."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crpix = [shape[1] / 2.0 + 0.5, shape[0] / 2.0 + 0.5]
    wcs.wcs.cdelt = [-pixscale_arcsec / 3600.0, pixscale_arcsec / 3600.0]
    wcs.wcs.crval = [ref_ra_deg, ref_dec_deg]
    wcs.wcs.radesys = "FK5"
    wcs.wcs.equinox = 2000.0
    return wcs


def _gaussian(
    dx: npt.NDArray[np.float64], dy: npt.NDArray[np.float64], beam: Beam, pixscale_arcsec: float
) -> npt.NDArray[np.float64]:
    """Peak-normalised beam evaluated at pixel offsets (RA to the left, PA east of north)."""
    smaj = beam.bmaj_arcsec * FWHM_TO_SIGMA / pixscale_arcsec
    smin = beam.bmin_arcsec * FWHM_TO_SIGMA / pixscale_arcsec
    pa = math.radians(beam.bpa_deg)
    u = -dx * math.sin(pa) + dy * math.cos(pa)
    v = -dx * math.cos(pa) - dy * math.sin(pa)
    return np.exp(-0.5 * (u**2 / smaj**2 + v**2 / smin**2))


def beam_kernel(beam: Beam, pixscale_arcsec: float) -> npt.NDArray[np.float64]:
    """Peak-normalised beam on an odd square grid reaching 4 σ of the major axis."""
    radius = max(1, math.ceil(4.0 * beam.bmaj_arcsec * FWHM_TO_SIGMA / pixscale_arcsec))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    return _gaussian(dx, dy, beam, pixscale_arcsec)


def _positions(
    rng: np.random.Generator, n: int, shape: tuple[int, int], border: float, min_sep: float
) -> npt.NDArray[np.float64]:
    ny, nx = shape
    accepted = np.empty((0, 2))
    for _ in range(50 * n + 1000):
        if len(accepted) == n:
            break
        cand = rng.uniform((border, border), (nx - 1 - border, ny - 1 - border), size=(max(n, 16), 2))
        for point in cand:
            if len(accepted) == n:
                break
            if len(accepted) == 0 or np.min(np.hypot(*(accepted - point).T)) >= min_sep:
                accepted = np.vstack([accepted, point])
    if len(accepted) < n:
        raise ParameterError(
            f"cannot place {n} sources {min_sep:.1f} px apart in a {shape} image; lower n_sources or the separation"
        )
    return accepted


def simulate_image(
    *,
    shape: tuple[int, int] = (512, 512),
    n_sources: int = 150,
    seed: int = 0,
    rms_jy: float = 1e-4,
    beam: Beam | None = None,
    pixscale_arcsec: float = 2.0,
    snr_min: float = 3.0,
    snr_max: float = 200.0,
    flux_slope: float = -1.5,
    min_separation_beams: float = 4.0,
    ref_ra_deg: float = 150.0,
    ref_dec_deg: float = -30.0,
    frequency_hz: float | None = 1.4e9,
    name: str = "sim",
) -> tuple[Image, Table]:
    """Simulate point sources (the beam) on correlated Gaussian noise.

    Parameters
    ----------
    shape
        ``(ny, nx)`` pixels.
    n_sources
        Number of sources.
    seed
        Seed of the ``numpy`` random generator; equal seeds give equal images.
    rms_jy
        Noise rms, Jy/beam (1e-4 = 100 µJy/beam), after smoothing to the beam.
    beam
        Restoring beam; default ``Beam(8, 8, 0)`` (4 px FWHM at 2″ pixels).
    pixscale_arcsec
        Pixel size.
    snr_min, snr_max
        Peak S/N range; peaks follow ``dN/dS ∝ S**flux_slope`` between them.
    flux_slope
        Power-law slope of the peak distribution.
    min_separation_beams
        Minimum distance between sources, in beam FWHM; sources also stay one FWHM from the edge.
    ref_ra_deg, ref_dec_deg
        Image centre.
    frequency_hz
        Written as the image frequency (``RESTFRQ``), or None.
    name
        Image name.

    Returns
    -------
    (Image, Table)
        The image and the truth table with columns :data:`TRUTH_COLUMNS` (0-based pixel ``x``, ``y``;
        ``flux_jy`` equals ``peak_jy`` for a point source; ``snr = peak_jy / rms_jy``).

    Raises
    ------
    ParameterError
        For inconsistent arguments or when the sources do not fit at the requested separation.
    """
    beam = beam or Beam(8.0, 8.0, 0.0)
    if n_sources < 0 or rms_jy <= 0 or not 0 < snr_min < snr_max or pixscale_arcsec <= 0:
        raise ParameterError("need n_sources ≥ 0, rms_jy > 0, 0 < snr_min < snr_max and pixscale_arcsec > 0")
    if len(shape) != 2 or min(shape) < 8:
        raise ParameterError(f"shape must be 2-D with both sides ≥ 8, got {shape}")
    rng = np.random.default_rng(seed)
    ny, nx = shape
    fwhm_pix = beam.bmaj_arcsec / pixscale_arcsec
    xy = _positions(rng, n_sources, shape, border=fwhm_pix, min_sep=min_separation_beams * fwhm_pix)

    a = flux_slope + 1.0
    uni = rng.uniform(size=n_sources)
    snr = (snr_min**a + uni * (snr_max**a - snr_min**a)) ** (1.0 / a)
    peak = snr * rms_jy

    kernel = beam_kernel(beam, pixscale_arcsec)
    r = kernel.shape[0] // 2
    white = rng.standard_normal((ny + 2 * r, nx + 2 * r))
    noise = fftconvolve(white, kernel, mode="valid") * (rms_jy / math.sqrt(float(np.sum(kernel**2))))
    data = noise.astype(np.float64)
    for (x0, y0), amp in zip(xy, peak, strict=True):
        xa, xb = max(0, int(x0) - r), min(nx, int(x0) + r + 2)
        ya, yb = max(0, int(y0) - r), min(ny, int(y0) + r + 2)
        dy, dx = np.meshgrid(np.arange(ya, yb) - y0, np.arange(xa, xb) - x0, indexing="ij")
        data[ya:yb, xa:xb] += amp * _gaussian(dx, dy, beam, pixscale_arcsec)

    wcs = make_sim_wcs(shape, pixscale_arcsec, ref_ra_deg, ref_dec_deg)
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0) if n_sources else (np.empty(0), np.empty(0))
    truth = Table(
        {
            "name": np.array([f"T{i + 1}" for i in range(n_sources)], dtype="U16"),
            "x": xy[:, 0],
            "y": xy[:, 1],
            "ra": np.asarray(ra, dtype=np.float64),
            "dec": np.asarray(dec, dtype=np.float64),
            "peak_jy": peak,
            "flux_jy": peak.copy(),
            "snr": snr,
            "kind": np.array(["point"] * n_sources, dtype="U16"),
        }
    )
    truth.meta.update({"rms_jy": rms_jy, "seed": seed, "shape": list(shape), "bmaj_arcsec": beam.bmaj_arcsec})
    logger.debug("simulated %s: %d sources, rms %.3g Jy/beam", name, n_sources, rms_jy)
    image = Image(data.astype(np.float32), wcs, beam, name, "Jy/beam", frequency_hz)
    return image, truth
