"""Simulated radio images with a truth table: point sources convolved with the beam in correlated noise."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from astropy.wcs import WCS
from scipy.signal import fftconvolve

from science.errors import ParameterError
from science.image import FWHM_TO_SIGMA, Beam, Image

__all__ = ["KIND_CLASS", "TRUTH_COLUMNS", "beam_kernel", "make_sim_wcs", "simulate_image"]

logger = logging.getLogger(__name__)

#: Columns of the truth table returned by :func:`simulate_image`.
TRUTH_COLUMNS = ("name", "x", "y", "ra", "dec", "peak_jy", "flux_jy", "snr", "kind", "class")

#: ``class`` of a truth row by ``kind``: what a finder should report (compact/extended) or must not (spurious).
KIND_CLASS = {
    "point": "compact",
    "double": "compact",
    "resolved": "extended",
    "diffuse": "extended",
    "sidelobe": "spurious",
}


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
    rng: np.random.Generator,
    n: int,
    shape: tuple[int, int],
    border: float,
    min_sep: float,
    avoid: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    ny, nx = shape
    start = 0 if avoid is None else len(avoid)
    accepted = np.empty((0, 2)) if avoid is None else np.asarray(avoid, float).reshape(-1, 2)
    n += start
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
    return accepted[start:]


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
    n_resolved: int = 0,
    n_doubles: int = 0,
    n_diffuse: int = 0,
    sidelobe_level: float = 0.0,
    sidelobe_snr_min: float = 100.0,
    rms_gradient: float = 0.0,
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
    n_resolved
        Extra resolved sources: elliptical Gaussians of intrinsic FWHM 0.7–2 beams convolved with the beam
        (``flux_jy > peak_jy``), peak S/N drawn like the point sources.
    n_doubles
        Extra pairs of point sources 1.5–3 beams apart (two truth rows, kind ``double``).
    n_diffuse
        Extra diffuse blobs, FWHM 6–15 beams, peak S/N 2–5 (kind ``diffuse``).
    sidelobe_level
        Around every source with S/N ≥ ``sidelobe_snr_min``, six sidelobe-like artefacts 3–8 beams away,
        tangentially elongated (3× the beam), peaks alternately ± (0.5–1)·``sidelobe_level``·peak; truth
        rows of class ``spurious`` (0 = none).
    sidelobe_snr_min
        S/N above which a source gets sidelobes.
    rms_gradient
        The noise rms grows linearly along x from ``rms_jy`` to ``(1 + rms_gradient)·rms_jy``.

    Returns
    -------
    (Image, Table)
        The image and the truth table with columns :data:`TRUTH_COLUMNS` (0-based pixel ``x``, ``y``;
        ``flux_jy`` equals ``peak_jy`` for a point source; ``snr = peak_jy / local rms``; ``class`` from
        :data:`KIND_CLASS`). With the extra kinds all zero the image equals that of earlier versions.

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

    rows = [(float(x), float(y), float(a), float(a), "point") for (x, y), a in zip(xy, peak, strict=True)]
    extras = (n_resolved, n_doubles, n_diffuse)
    if any(extras) or sidelobe_level > 0:
        if min(extras) < 0 or sidelobe_level < 0:
            raise ParameterError("n_resolved, n_doubles, n_diffuse and sidelobe_level must be ≥ 0")
        extra_rng = np.random.default_rng([seed, 1])

        def snr_of(n: int) -> npt.NDArray[np.float64]:
            drawn: npt.NDArray[np.float64] = (snr_min**a + extra_rng.uniform(size=n) * (snr_max**a - snr_min**a)) ** (
                1.0 / a
            )
            return drawn

        rows += _add_extras(data, extra_rng, xy, beam, pixscale_arcsec, rms_jy, extras, snr_of, min_separation_beams)
        rows += _add_sidelobes(data, extra_rng, rows, beam, pixscale_arcsec, rms_jy, sidelobe_level, sidelobe_snr_min)
    if rms_gradient:
        if rms_gradient < 0:
            raise ParameterError(f"rms_gradient must be ≥ 0, got {rms_gradient}")
        data += noise * (rms_gradient * np.arange(nx) / max(nx - 1, 1))[None, :]
    truth = _truth_table(rows, make_sim_wcs(shape, pixscale_arcsec, ref_ra_deg, ref_dec_deg), rms_jy, rms_gradient, nx)
    wcs = make_sim_wcs(shape, pixscale_arcsec, ref_ra_deg, ref_dec_deg)
    truth.meta.update({"rms_jy": rms_jy, "seed": seed, "shape": list(shape), "bmaj_arcsec": beam.bmaj_arcsec})
    logger.debug("simulated %s: %d truth rows, rms %.3g Jy/beam", name, len(truth), rms_jy)
    image = Image(data.astype(np.float32), wcs, beam, name, "Jy/beam", frequency_hz)
    return image, truth


Row = tuple[float, float, float, float, str]


def _add_gaussian(
    data: npt.NDArray[np.float64], x0: float, y0: float, amp: float, sig: tuple[float, float, float]
) -> None:
    """Add ``amp``·Gaussian(σ_maj, σ_min px, θ from +x in rad) centred at (x0, y0), cut at 4 σ_maj."""
    smaj, smin, th = sig
    r = max(2, math.ceil(4.0 * smaj))
    ny, nx = data.shape
    xa, xb = max(0, int(x0) - r), min(nx, int(x0) + r + 2)
    ya, yb = max(0, int(y0) - r), min(ny, int(y0) + r + 2)
    if xa >= xb or ya >= yb:
        return
    dy, dx = np.meshgrid(np.arange(ya, yb) - y0, np.arange(xa, xb) - x0, indexing="ij")
    u = dx * math.cos(th) + dy * math.sin(th)
    v = -dx * math.sin(th) + dy * math.cos(th)
    data[ya:yb, xa:xb] += amp * np.exp(-0.5 * ((u / smaj) ** 2 + (v / smin) ** 2))


def _add_extras(
    data: npt.NDArray[np.float64],
    rng: np.random.Generator,
    avoid: npt.NDArray[np.float64],
    beam: Beam,
    pixscale: float,
    rms: float,
    counts: tuple[int, int, int],
    snr_of: Callable[[int], npt.NDArray[np.float64]],
    min_sep_beams: float,
) -> list[Row]:
    """Resolved sources, doubles and diffuse blobs; returns their truth rows."""
    n_res, n_dbl, n_dif = counts
    fwhm = beam.bmaj_arcsec / pixscale
    sb = fwhm * FWHM_TO_SIGMA
    draw = snr_of
    pos = _positions(rng, n_res + n_dbl + n_dif, data.shape, 8 * fwhm, (min_sep_beams + 3) * fwhm, avoid)
    rows: list[Row] = []
    for (x, y), snr in zip(pos[:n_res], draw(n_res), strict=True):
        intr = rng.uniform(0.7, 2.0, 2) * fwhm * FWHM_TO_SIGMA
        smaj, smin = math.hypot(sb, max(intr)), math.hypot(sb, min(intr))
        peak = float(snr) * rms
        _add_gaussian(data, x, y, peak, (smaj, smin, rng.uniform(0, math.pi)))
        rows.append((x, y, peak, peak * smaj * smin / sb**2, "resolved"))
    for (x, y), snr in zip(pos[n_res : n_res + n_dbl], draw(n_dbl), strict=True):
        sep, ang = rng.uniform(1.5, 3.0) * fwhm, rng.uniform(0, math.pi)
        for sign, frac in ((-0.5, 1.0), (0.5, rng.uniform(0.3, 1.0))):
            px, py, amp = x + sign * sep * math.cos(ang), y + sign * sep * math.sin(ang), float(snr) * rms * frac
            _add_gaussian(data, px, py, amp, (sb, sb, 0.0))
            rows.append((px, py, amp, amp, "double"))
    for x, y in pos[n_res + n_dbl :]:
        size, peak = rng.uniform(6, 15) * fwhm * FWHM_TO_SIGMA, rng.uniform(2, 5) * rms
        _add_gaussian(data, x, y, peak, (size, size, 0.0))
        rows.append((x, y, peak, peak * size**2 / sb**2, "diffuse"))
    return rows


def _add_sidelobes(
    data: npt.NDArray[np.float64],
    rng: np.random.Generator,
    rows: list[Row],
    beam: Beam,
    pixscale: float,
    rms: float,
    level: float,
    snr_min: float,
) -> list[Row]:
    """Tangentially elongated ± artefacts around bright sources; returns their (spurious) truth rows."""
    if level <= 0:
        return []
    fwhm = beam.bmaj_arcsec / pixscale
    sb = fwhm * FWHM_TO_SIGMA
    out: list[Row] = []
    for x, y, peak, _, kind in list(rows):
        if kind == "diffuse" or peak < snr_min * rms:
            continue
        for k in range(6):
            r, ang = rng.uniform(3.0, 8.0) * fwhm, rng.uniform(0, 2 * math.pi)
            amp = (1 if k % 2 == 0 else -1) * rng.uniform(0.5, 1.0) * level * peak
            sx, sy = x + r * math.cos(ang), y + r * math.sin(ang)
            _add_gaussian(data, sx, sy, amp, (3.0 * sb, sb, ang + math.pi / 2))
            out.append((sx, sy, amp, amp * 3.0, "sidelobe"))
    return out


def _truth_table(rows: list[Row], wcs: WCS, rms: float, gradient: float, nx: int) -> Table:
    n = len(rows)
    arr = np.array([r[:4] for r in rows], dtype=np.float64).reshape(n, 4)
    kind = np.array([r[4] for r in rows], dtype="U16")
    ra, dec = wcs.wcs_pix2world(arr[:, 0], arr[:, 1], 0) if n else (np.empty(0), np.empty(0))
    local_rms = rms * (1.0 + gradient * np.clip(arr[:, 0], 0, nx - 1) / max(nx - 1, 1))
    return Table(
        {
            "name": np.array([f"T{i + 1}" for i in range(n)], dtype="U16"),
            "x": arr[:, 0],
            "y": arr[:, 1],
            "ra": np.asarray(ra, dtype=np.float64),
            "dec": np.asarray(dec, dtype=np.float64),
            "peak_jy": arr[:, 2],
            "flux_jy": arr[:, 3],
            "snr": arr[:, 2] / local_rms,
            "kind": kind,
            "class": np.array([KIND_CLASS[k] for k in kind], dtype="U16"),
        }
    )
