"""Fitted components: caesar's 48 component columns (§10.2) derived from a Gaussian fit outcome.

Conventions (caesar ``SourceFitPars``): ``bmaj``/``bmin`` are FWHM in pixels (``2.3548·σ``), ``pa = θ − 90°``
(θ of the major axis from +x, so ``pa`` is east of north on a north-up, RA-left image), component flux
density ``F = 2π·A·σx·σy`` (Jy/beam·px) and ``S(Jy) = F / beamArea``; for a point source ``S = A``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS

from science.extract.gaussian import NPAR, FitOutcome
from science.extract.sources import iau_name
from science.image import Beam

__all__ = [
    "COMPONENT_COLUMNS",
    "FIT_QUALITY_LABELS",
    "ComponentGeometry",
    "component_records",
    "component_sky",
    "deconvolve",
]

FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))

#: (column, dtype) of ``catalog_fitcomp-<base>.dat``, in file order.
COMPONENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "U32"),
    ("npix", "i8"),
    ("componentId", "i8"),
    ("iauName", "U32"),
    *((c, "f8") for c in ("x", "y", "x_err", "y_err", "x_wcs(deg)", "y_wcs(deg)", "x_wcs_err(deg)")),
    *((c, "f8") for c in ("y_wcs_err(deg)", "nu(GHz)", "Speak(Jy/beam)", "Speak_err(Jy/beam)", "S(Jy)")),
    *((c, "f8") for c in ("S_err(Jy)", "S_island(Jy)", "S_island_err(Jy)", "beamArea", "bmaj", "bmin", "pa")),
    *((c, "f8") for c in ("bmaj_err", "bmin_err", "pa_err", "bmaj_wcs(arcsec)", "bmin_wcs(arcsec)")),
    *((c, "f8") for c in ("pa_wcs(deg)", "bmaj_wcs_err(arcsec)", "bmin_wcs_err(arcsec)", "pa_wcs_err(deg)")),
    *((c, "f8") for c in ("bmaj_beam(arcsec)", "bmin_beam(arcsec)", "pa_beam(deg)", "bmaj_deconv_wcs(arcsec)")),
    *((c, "f8") for c in ("bmin_deconv_wcs(arcsec)", "pa_deconv_wcs(deg)", "fitBeamEllipseEccentricityRatio")),
    *((c, "f8") for c in ("fitBeamEllipseAreaRatio", "fitBeamEllipseRotAngle", "bkgSum(Jy/beam)")),
    ("rmsSum(Jy/beam)", "f8"),
    ("chi2", "f8"),
    ("ndf", "i8"),
    ("fitQuality", "i8"),
    ("sourcenessId", "i8"),
    ("morphId", "i8"),
)

FIT_QUALITY_LABELS = {-1: "UNKNOWN", 0: "BAD", 1: "LOW", 2: "MEDIUM", 3: "HIGH"}


@dataclass(frozen=True)
class ComponentGeometry:
    """What turns pixel fit parameters into sky quantities."""

    beam: Beam
    pixscale_arcsec: float
    frequency_hz: float | None


def _pa_range(deg: float) -> float:
    """Angle folded into ``[-90, 90)`` degrees."""
    return (deg + 90.0) % 180.0 - 90.0


def deconvolve(bmaj: float, bmin: float, pa_deg: float, beam: Beam) -> tuple[float, float, float]:
    """Beam-deconvolved FWHM axes and PA (Wild 1970), arcsec/deg; zeros when unresolved."""
    th, thb = math.radians(pa_deg), math.radians(beam.bpa_deg)
    ab, bb = beam.bmaj_arcsec, beam.bmin_arcsec
    alpha = (
        (bmaj * math.cos(th)) ** 2 + (bmin * math.sin(th)) ** 2 - (ab * math.cos(thb)) ** 2 - (bb * math.sin(thb)) ** 2
    )
    beta = (
        (bmaj * math.sin(th)) ** 2 + (bmin * math.cos(th)) ** 2 - (ab * math.sin(thb)) ** 2 - (bb * math.cos(thb)) ** 2
    )
    gamma = 2.0 * ((bmin**2 - bmaj**2) * math.sin(th) * math.cos(th) - (bb**2 - ab**2) * math.sin(thb) * math.cos(thb))
    s, t = alpha + beta, math.hypot(alpha - beta, gamma)
    if alpha < 0 or beta < 0 or s < t:
        return 0.0, 0.0, 0.0
    maj, mn = math.sqrt(0.5 * (s + t)), math.sqrt(0.5 * (s - t))
    pa = math.degrees(0.5 * math.atan2(-gamma, alpha - beta)) if maj > 0 else 0.0
    return maj, mn, _pa_range(pa)


def _flux(p: npt.NDArray[np.float64], cov: npt.NDArray[np.float64], k: int) -> tuple[float, float]:
    """``F = 2π A σx σy`` and its error from the covariance of (A, σx, σy)."""
    amp, sx, sy = p[k * NPAR], p[k * NPAR + 3], p[k * NPAR + 4]
    flux = 2.0 * math.pi * amp * sx * sy
    idx = [k * NPAR, k * NPAR + 3, k * NPAR + 4]
    grad = np.array([2 * math.pi * sx * sy, 2 * math.pi * amp * sy, 2 * math.pi * amp * sx])
    var = float(grad @ cov[np.ix_(idx, idx)] @ grad)
    return flux, math.sqrt(var) if math.isfinite(var) and var >= 0 else 0.0


def _one(
    p: npt.NDArray[np.float64],
    err: npt.NDArray[np.float64],
    k: int,
    geo: ComponentGeometry,
    sky: tuple[float, float],
) -> dict[str, Any]:
    amp, x0, y0, sx, sy, th = (float(v) for v in p[k * NPAR : (k + 1) * NPAR])
    e_amp, e_x, e_y, e_sx, e_sy, e_th = (float(v) for v in err[k * NPAR : (k + 1) * NPAR])
    if sy > sx:
        sx, sy, e_sx, e_sy, th = sy, sx, e_sy, e_sx, th + math.pi / 2
    pa = _pa_range(math.degrees(th) - 90.0)
    scale = geo.pixscale_arcsec
    beam = geo.beam
    ra, dec = sky
    bmaj, bmin = FWHM * sx, FWHM * sy
    # caesar's "eccentricity" (MathUtils::ComputeEllipseEccentricity) is 1 − b²/a², the square of e
    ecc = 1.0 - (bmin / bmaj) ** 2 if bmaj > 0 else 0.0
    ecc_beam = 1.0 - (min(beam.bmin_arcsec, beam.bmaj_arcsec) / max(beam.bmin_arcsec, beam.bmaj_arcsec)) ** 2
    dmaj, dmin, dpa = deconvolve(bmaj * scale, bmin * scale, pa, beam)
    return {
        "iauName": iau_name(ra, dec), "x": x0, "y": y0, "x_err": e_x, "y_err": e_y,
        "x_wcs(deg)": ra, "y_wcs(deg)": dec, "x_wcs_err(deg)": e_x * scale / 3600.0,
        "y_wcs_err(deg)": e_y * scale / 3600.0,
        "nu(GHz)": geo.frequency_hz / 1e9 if geo.frequency_hz is not None else -999.0,
        "Speak(Jy/beam)": amp, "Speak_err(Jy/beam)": e_amp,
        "bmaj": bmaj, "bmin": bmin, "pa": pa, "bmaj_err": FWHM * e_sx, "bmin_err": FWHM * e_sy,
        "pa_err": math.degrees(e_th), "bmaj_wcs(arcsec)": bmaj * scale, "bmin_wcs(arcsec)": bmin * scale,
        "pa_wcs(deg)": pa, "bmaj_wcs_err(arcsec)": FWHM * e_sx * scale, "bmin_wcs_err(arcsec)": FWHM * e_sy * scale,
        "pa_wcs_err(deg)": math.degrees(e_th), "bmaj_beam(arcsec)": beam.bmaj_arcsec,
        "bmin_beam(arcsec)": beam.bmin_arcsec, "pa_beam(deg)": beam.bpa_deg,
        "bmaj_deconv_wcs(arcsec)": dmaj, "bmin_deconv_wcs(arcsec)": dmin, "pa_deconv_wcs(deg)": dpa,
        "fitBeamEllipseEccentricityRatio": ecc / ecc_beam if ecc_beam > 0 else 0.0,
        "fitBeamEllipseAreaRatio": bmaj * bmin * scale**2 / (beam.bmaj_arcsec * beam.bmin_arcsec),
        "fitBeamEllipseRotAngle": pa - beam.bpa_deg,  # as caesar computes it (its header says 0-180)
        "sx": sx, "sy": sy, "theta": math.degrees(th), "sx_err": e_sx, "sy_err": e_sy, "theta_err": math.degrees(e_th),
    }  # fmt: skip


def component_records(
    outcome: FitOutcome,
    geo: ComponentGeometry,
    *,
    quality: int,
    ndata: int,
    island: Any,
    sky: npt.NDArray[np.float64],
) -> list[dict[str, Any]]:
    """One dict per component (every :data:`COMPONENT_COLUMNS` key except ``name``, plus σ/θ keys for JSON).

    ``island`` is the island's table row (``npix``, ``beamArea``, ``bkgSum``, ``rmsSum``); ``outcome`` has
    ``G = 1``. Components are ordered by decreasing amplitude and numbered from 1. ``sky`` holds the
    components' ``(ra, dec)`` in fit order, computed for many islands in one WCS call (see
    :func:`component_sky`).
    """
    p, cov = outcome.params[0], outcome.cov[0]
    err = np.sqrt(np.clip(np.diag(cov), 0.0, None)) if bool(outcome.cov_ok[0]) else np.zeros_like(p)
    ncomp = p.size // NPAR
    area = float(island["beamArea"])
    fluxes = [_flux(p, cov if bool(outcome.cov_ok[0]) else np.zeros_like(cov), k) for k in range(ncomp)]
    total = sum(f for f, _ in fluxes) / area
    total_err = math.sqrt(sum(e**2 for _, e in fluxes)) / area
    order = sorted(range(ncomp), key=lambda k: -float(p[k * NPAR]))
    ndf = max(ndata - p.size, 0)
    records = []
    for cid, k in enumerate(order, start=1):
        rec = _one(p, err, k, geo, (float(sky[k, 0]), float(sky[k, 1])))
        rec.update(
            {
                "npix": int(island["npix"]), "componentId": cid, "S(Jy)": fluxes[k][0] / area,
                "S_err(Jy)": fluxes[k][1] / area, "S_island(Jy)": total, "S_island_err(Jy)": total_err,
                "beamArea": area, "bkgSum(Jy/beam)": float(island["bkgSum(Jy/beam)"]),
                "rmsSum(Jy/beam)": float(island["rmsSum(Jy/beam)"]), "chi2": float(outcome.chi2[0]), "ndf": ndf,
                "fitQuality": quality, "sourcenessId": 2, "morphId": 2, "flux_density": fluxes[k][0],
                "flux_density_err": fluxes[k][1], "ndata": ndata, "npars": int(p.size),
            }
        )  # fmt: skip
        records.append(rec)
    return records


def component_sky(outcomes: list[FitOutcome], wcs: WCS) -> list[npt.NDArray[np.float64]]:
    """``(ncomp, 2)`` ``(ra, dec)`` of every outcome's components (fit order), one WCS transform for all."""
    centres = [o.params[0].reshape(-1, NPAR)[:, 1:3] for o in outcomes]
    if not centres:
        return []
    xy = np.concatenate(centres)
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    radec = np.column_stack([ra, dec]).astype(np.float64)
    bounds = np.cumsum([0, *(len(c) for c in centres)])
    return [radec[a:b] for a, b in itertools.pairwise(bounds)]
