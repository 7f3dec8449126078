"""Batched solves of many islands' Gaussian fits, with caesar's retries on widened bounds."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from science.extract.gaussian import NPAR, FitOutcome, amplitude_columns, fit_one, fit_ragged, params_at_bound
from science.extract.islands import IslandPixels
from science.extract.starts import SIGMA_FLOOR, FitLimits

__all__ = ["MAX_ITER", "Start", "prefit", "retry", "solve", "take", "widen"]

F64 = npt.NDArray[np.float64]

#: Levenberg–Marquardt iterations of a batched fit (``fit-maxniters``).
MAX_ITER = 300


@dataclass(frozen=True, eq=False)
class Start:
    """Start values and bounds of one island's fit, ``(6k,)`` each (``(6k + 1,)`` with a fitted offset)."""

    p0: F64
    lo: F64
    hi: F64


def take(out: FitOutcome, j: int) -> FitOutcome:
    """Island ``j`` of a batch outcome, as an outcome with ``G = 1``."""
    s = slice(j, j + 1)
    return FitOutcome(out.params[s], out.cov[s], out.chi2[s], out.converged[s], out.at_bound[s], out.cov_ok[s])


def solve(islands: list[IslandPixels], p0: F64, lo: F64, hi: F64, max_iter: int = MAX_ITER) -> FitOutcome:
    """Ragged batched LM (at most ``max_iter`` iterations) for all islands; least_squares again for those the
    batch did not converge."""
    sizes = np.fromiter((len(isl.x) for isl in islands), np.int64, len(islands))
    x = np.concatenate([isl.x for isl in islands])
    y = np.concatenate([isl.y for isl in islands])
    v = np.concatenate([isl.value for isl in islands])
    sigma = np.array([float(isl.rms.mean()) for isl in islands])
    out = fit_ragged(p0, lo, hi, x, y, v, sizes, sigma, max_iter=max_iter)
    for j in np.flatnonzero(~out.converged):
        isl = islands[j]
        one = fit_one(p0[j], lo[j], hi[j], isl.x, isl.y, isl.value, float(sigma[j]))
        if bool(one.converged[0]) or float(one.chi2[0]) < float(out.chi2[j]):
            out.params[j], out.cov[j], out.chi2[j] = one.params[0], one.cov[0], one.chi2[0]
            out.converged[j], out.at_bound[j], out.cov_ok[j] = one.converged[0], one.at_bound[0], one.cov_ok[0]
    return out


def widen(params: F64, lo: F64, hi: F64, n: int | None, step: float = 0.1) -> tuple[F64, F64]:
    """caesar's new bounds for retry ``n`` of fits ``(G, P)``: the free parameters on a bound get theirs
    widened by ``(1+n)·step·0.5·|max−min|`` (amplitudes kept ≥ 0, σ ≥ 0.3 px), or dropped for the last try
    (``n`` None; amplitudes kept ≥ 0, σ ≥ :data:`SIGMA_FLOOR`); the other parameters keep theirs."""
    hit = params_at_bound(params, lo, hi)
    if n is not None:
        grow = np.where(hit, (1 + n) * step * 0.5 * np.abs(hi - lo), 0.0)
        new_lo, new_hi, floor = lo - grow, hi + grow, 0.3
    else:
        new_lo, new_hi, floor = np.full(lo.shape, -np.inf), np.full(hi.shape, np.inf), SIGMA_FLOOR
    amp = amplitude_columns(lo.shape[-1])
    new_lo[..., amp] = np.maximum(new_lo[..., amp], 0.0)
    for sig in (3, 4):  # (a fitted offset, column 6k, is never one of these)
        new_lo[..., sig::NPAR] = np.maximum(new_lo[..., sig::NPAR], floor)
    return np.where(hit, new_lo, lo), np.where(hit, new_hi, hi)


def retry(
    outcome: FitOutcome,
    starts: list[Start],
    islands: list[IslandPixels],
    nretries: int,
    step: float = 0.1,
    max_iter: int = MAX_ITER,
) -> FitOutcome:
    """caesar's retries of the fits that end on a bound (a batch of equal component counts): up to ``nretries``
    fits with the bounds on which they ended widened (:func:`widen`), then, for those still on a bound, one
    last fit without those bounds, as caesar's SourceFitter does; none with ``nretries`` 0
    (``fit-noimproveconvergence``)."""
    params, cov, chi2 = outcome.params.copy(), outcome.cov.copy(), outcome.chi2.copy()
    conv, atb, cok = outcome.converged.copy(), outcome.at_bound.copy(), outcome.cov_ok.copy()
    lo = np.stack([s.lo for s in starts])
    hi = np.stack([s.hi for s in starts])
    held = np.zeros(atb.size, bool)  # on bounds widening cannot move (amplitude 0, the σ floor): refits change nothing
    n = 0 if nretries else 1
    while n <= nretries and atb.any():
        last = n == nretries
        todo = np.flatnonzero(atb if last else atb & ~held)  # (the last try lowers the σ floor to SIGMA_FLOOR)
        if todo.size == 0:  # only held fits left: straight to the last try
            n = nretries
            continue
        p, old_lo, old_hi = params[todo], lo[todo], hi[todo]
        new_lo, new_hi = widen(p, old_lo, old_hi, None if last else n, step)
        n += 1
        # refit only where a bound a parameter ended on has moved (the other side's widening changes no fit)
        moved = (params_at_bound(p, old_lo, np.full_like(p, np.inf)) & (new_lo < old_lo)).any(axis=1)
        moved |= (params_at_bound(p, np.full_like(p, -np.inf), old_hi) & (new_hi > old_hi)).any(axis=1)
        lo[todo], hi[todo] = new_lo, new_hi
        held[todo[~moved]] = True
        todo = todo[moved]
        if todo.size == 0:
            continue
        sub = solve([islands[i] for i in todo], params[todo], lo[todo], hi[todo], max_iter)
        params[todo], cov[todo], chi2[todo] = sub.params, sub.cov, sub.chi2
        conv[todo], atb[todo], cok[todo] = sub.converged, sub.at_bound, sub.cov_ok
    return FitOutcome(params, cov, chi2, conv, atb, cok)


def prefit(
    islands: list[IslandPixels], starts: list[Start], hold: frozenset[str], limits: FitLimits, max_iter: int = MAX_ITER
) -> list[Start]:
    """caesar's pre-fit of a batch (equal parameter counts): one fit with the groups in ``hold`` at their start
    values (caesar holds ``ampl`` and ``pos`` unless ``prefit-freeampl`` / ``prefit-freepos``, and ``sigma`` /
    ``theta`` with ``prefit-fixsigma`` / ``prefit-fixtheta``) and the others within the start's bounds, σ and θ
    free whatever ``fit-fixsigma`` / ``fit-fixtheta`` say; returns the starts of the full fit: the pre-fitted
    values (the start's where the pre-fit left no finite values) with ``limits``' bounds around them, where
    ``fit-fixsigma`` / ``fit-fixtheta`` hold the pre-fitted σ / θ, and a fitted offset's bounds (if it has
    any) the pre-fitted offset ± the island's mean rms, as caesar's SourceFitter releases its parameters."""
    p0 = np.stack([s.p0 for s in starts])
    n_comp = p0.shape[1] // NPAR
    comps = p0[:, : n_comp * NPAR].reshape(-1, NPAR)
    lo, hi = np.stack([s.lo for s in starts]), np.stack([s.hi for s in starts])
    held_lo, held_hi = replace(limits, fix_sigma=False, fix_theta=False).bounds(comps, hold)
    lo[:, : n_comp * NPAR], hi[:, : n_comp * NPAR] = (b.reshape(len(starts), -1) for b in (held_lo, held_hi))
    out = solve(islands, p0, lo, hi, max_iter)
    done = np.where(np.isfinite(out.params).all(axis=1, keepdims=True), out.params, p0)
    new_lo, new_hi = (b.reshape(len(starts), -1) for b in limits.bounds(done[:, : n_comp * NPAR].reshape(-1, NPAR)))
    result = []
    for j, (start, isl) in enumerate(zip(starts, islands, strict=True)):
        a, b = new_lo[j], new_hi[j]
        if start.p0.size > n_comp * NPAR:  # the fitted offset
            rms = float(isl.rms.mean()) if np.isfinite(start.lo[-1]) else np.inf
            a, b = np.append(a, done[j, -1] - rms), np.append(b, done[j, -1] + rms)
        result.append(Start(done[j], a, b))
    return result
