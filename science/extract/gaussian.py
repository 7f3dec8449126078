"""Sums of elliptical 2-D Gaussians: model, analytic Jacobian and bounded least-squares solvers.

A component has six parameters ``(A, x0, y0, sx, sy, theta)``: amplitude, centre (pixels), standard
deviations along its own axes (pixels) and the angle of the ``sx`` axis from the +x axis (radians,
counter-clockwise). Two solvers share the model:

* :func:`fit_batch` — a vectorised Levenberg–Marquardt over many islands at once (same number of
  components each, pixels padded with zero weight), with box bounds by projection. It does the bulk of
  a survey image (isolated single-component islands) in a few numpy operations per iteration.
* :func:`fit_one` — :func:`scipy.optimize.least_squares` (trust-region reflective, bounds, analytic
  Jacobian) for one island, used for deblended islands and for batch fits that did not converge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NPAR", "FitOutcome", "fit_batch", "fit_one", "gaussian_jacobian", "gaussian_model"]

#: Parameters per component.
NPAR = 6

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class FitOutcome:
    """Result of a fit of ``G`` islands (``G = 1`` for :func:`fit_one`).

    Attributes
    ----------
    params
        ``(G, 6k)`` best parameters.
    cov
        ``(G, 6k, 6k)`` covariance (``σ̄² (JᵀJ)⁻¹``); NaN where ``JᵀJ`` is singular.
    chi2
        ``(G,)`` ``Σ((data − model)/σ̄)²``.
    converged
        ``(G,)`` the solver reached its tolerance.
    at_bound
        ``(G,)`` some parameter ends on a bound.
    cov_ok
        ``(G,)`` the covariance is finite and positive definite.
    """

    params: F64
    cov: F64
    chi2: F64
    converged: npt.NDArray[np.bool_]
    at_bound: npt.NDArray[np.bool_]
    cov_ok: npt.NDArray[np.bool_]


def _terms(p: F64, x: F64, y: F64) -> tuple[F64, ...]:
    """Per-component pieces; ``p`` is ``(..., 6)`` broadcast against pixel arrays ``x``, ``y``."""
    amp, x0, y0, sx, sy, th = (p[..., i, None] for i in range(NPAR))
    c, s = np.cos(th), np.sin(th)
    dx, dy = x - x0, y - y0
    u = c * dx + s * dy
    v = -s * dx + c * dy
    g = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return amp, c, s, u, v, sx, sy, g


def gaussian_model(params: F64, x: F64, y: F64) -> F64:
    """Sum of components: ``params`` ``(..., 6k)``, pixels ``x``, ``y`` ``(..., N)`` → ``(..., N)``."""
    p = params.reshape(*params.shape[:-1], -1, NPAR)
    amp, *_, g = _terms(p, x[..., None, :], y[..., None, :])
    total: F64 = (amp * g).sum(axis=-2)
    return total


def gaussian_jacobian(params: F64, x: F64, y: F64) -> F64:
    """Derivatives of :func:`gaussian_model`: ``(..., N, 6k)``."""
    p = params.reshape(*params.shape[:-1], -1, NPAR)
    amp, c, s, u, v, sx, sy, g = _terms(p, x[..., None, :], y[..., None, :])
    ag = amp * g
    du, dv = u / sx**2, v / sy**2
    parts = (
        g,
        ag * (du * c - dv * s),
        ag * (du * s + dv * c),
        ag * u**2 / sx**3,
        ag * v**2 / sy**3,
        ag * (dv * u - du * v),
    )
    jac = np.stack(parts, axis=-1)  # (..., k, N, 6)
    jac = np.moveaxis(jac, -3, -2)  # (..., N, k, 6)
    out: F64 = jac.reshape(*jac.shape[:-2], -1)
    return out


def _at_bound(params: F64, lo: F64, hi: F64, free: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.bool_]:
    tol = 1e-6 * np.maximum(hi - lo, 1e-12)
    hit = np.asarray((params - lo <= tol) | (hi - params <= tol), dtype=bool)
    if free is not None:
        hit = hit & free
    result: npt.NDArray[np.bool_] = np.asarray(hit.any(axis=-1), dtype=bool)
    return result


def _covariance(jtj: F64, sigma: F64, free: npt.NDArray[np.bool_] | None = None) -> tuple[F64, npt.NDArray[np.bool_]]:
    """``σ² (JᵀJ)⁻¹`` over the free parameters (fixed ones get zero variance)."""
    cov = np.full_like(jtj, np.nan)
    ok = np.zeros(jtj.shape[0], bool)
    for g in range(jtj.shape[0]):
        f = np.ones(jtj.shape[1], bool) if free is None else free[g]
        sub = jtj[g][np.ix_(f, f)]
        try:
            chol = np.linalg.cholesky(sub)
        except np.linalg.LinAlgError:
            continue
        inv_l = np.linalg.inv(chol)
        cov[g] = 0.0
        cov[g][np.ix_(f, f)] = sigma[g] ** 2 * (inv_l.T @ inv_l)
        ok[g] = bool(np.all(np.isfinite(cov[g])))
    return cov, ok


def fit_batch(
    p0: F64,
    lo: F64,
    hi: F64,
    x: F64,
    y: F64,
    data: F64,
    weight: F64,
    sigma: F64,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> FitOutcome:
    """Bounded Levenberg–Marquardt fit of ``G`` islands at once.

    Parameters
    ----------
    p0, lo, hi
        ``(G, 6k)`` start values and bounds (``lo ≤ p0 ≤ hi``).
    x, y, data, weight
        ``(G, N)`` pixel coordinates, values and weights (1 for island pixels, 0 for padding).
    sigma
        ``(G,)`` noise per island (mean island rms), the χ² unit.
    max_iter, tol
        Iteration cap and relative χ² change that counts as converged.

    Returns
    -------
    FitOutcome
    """
    p = np.clip(p0, lo, hi)
    lam = np.full(p.shape[0], 1e-3)
    free = hi > lo

    def chi2_of(params: F64) -> F64:
        r = (data - gaussian_model(params, x, y)) * weight
        out: F64 = (r**2).sum(axis=1) / sigma**2
        return out

    chi2 = chi2_of(p)
    converged = np.zeros(p.shape[0], bool)
    eye = np.eye(p.shape[1])
    for _ in range(max_iter):
        active = ~converged
        if not active.any():
            break
        pa, xa, ya = p[active], x[active], y[active]
        jac = gaussian_jacobian(pa, xa, ya) * weight[active, :, None] * free[active, None, :]
        resid = (data[active] - gaussian_model(pa, xa, ya)) * weight[active]
        jtj = np.einsum("gnp,gnq->gpq", jac, jac)
        jtr = np.einsum("gnp,gn->gp", jac, resid)
        damp = jtj + lam[active, None, None] * (jtj * eye + 1e-12 * eye)
        try:
            step = np.linalg.solve(damp, jtr[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.zeros_like(pa)
        trial = np.clip(pa + step, lo[active], hi[active])
        new_chi2 = (((data[active] - gaussian_model(trial, xa, ya)) * weight[active]) ** 2).sum(axis=1)
        new_chi2 /= sigma[active] ** 2
        better = np.isfinite(new_chi2) & (new_chi2 <= chi2[active])
        idx = np.flatnonzero(active)
        rel = np.abs(chi2[active] - new_chi2) / np.maximum(chi2[active], 1e-300)
        p[idx[better]] = trial[better]
        lam[idx] = np.where(better, lam[idx] / 3.0, lam[idx] * 5.0)
        done = (better & (rel < tol)) | (lam[idx] > 1e8)
        chi2[idx[better]] = new_chi2[better]
        converged[idx[done]] = True
    jac = gaussian_jacobian(p, x, y) * weight[:, :, None]
    cov, cov_ok = _covariance(np.einsum("gnp,gnq->gpq", jac, jac), sigma, free)
    return FitOutcome(p, cov, chi2, converged, _at_bound(p, lo, hi, free), cov_ok)


def fit_one(p0: F64, lo: F64, hi: F64, x: F64, y: F64, data: F64, sigma: float) -> FitOutcome:
    """Fit one island with :func:`scipy.optimize.least_squares` (TRF, bounds, analytic Jacobian).

    Parameters
    ----------
    p0, lo, hi
        ``(6k,)`` start values and bounds.
    x, y, data
        ``(N,)`` island pixels.
    sigma
        Mean island rms.

    Returns
    -------
    FitOutcome
        With ``G = 1``.
    """
    from scipy.optimize import least_squares  # imported on first use: most images never need it

    start = np.clip(p0, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))

    def resid(p: F64) -> F64:
        out: F64 = (gaussian_model(p, x, y) - data) / sigma
        return out

    def jac(p: F64) -> F64:
        out: F64 = gaussian_jacobian(p, x, y) / sigma
        return out

    res = least_squares(resid, start, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=2000)
    jtj = res.jac.T @ res.jac
    cov, cov_ok = _covariance(jtj[None] * sigma**2, np.array([sigma]))
    return FitOutcome(
        res.x[None],
        cov,
        np.array([2.0 * res.cost]),
        np.array([res.status > 0]),
        _at_bound(res.x[None], lo[None], hi[None]),
        cov_ok,
    )
