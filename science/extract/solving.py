"""Batched solves of many islands' Gaussian fits, with caesar's retries on widened bounds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from science.extract.gaussian import NPAR, FitOutcome, amplitude_columns, fit_one, fit_ragged
from science.extract.islands import IslandPixels

__all__ = ["Start", "retry", "solve", "take"]

F64 = npt.NDArray[np.float64]


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


def solve(islands: list[IslandPixels], p0: F64, lo: F64, hi: F64) -> FitOutcome:
    """Ragged batched LM for all islands; least_squares again for those the batch did not converge."""
    sizes = np.fromiter((len(isl.x) for isl in islands), np.int64, len(islands))
    x = np.concatenate([isl.x for isl in islands])
    y = np.concatenate([isl.y for isl in islands])
    v = np.concatenate([isl.value for isl in islands])
    sigma = np.array([float(isl.rms.mean()) for isl in islands])
    out = fit_ragged(p0, lo, hi, x, y, v, sizes, sigma)
    for j in np.flatnonzero(~out.converged):
        isl = islands[j]
        one = fit_one(p0[j], lo[j], hi[j], isl.x, isl.y, isl.value, float(sigma[j]))
        if bool(one.converged[0]) or float(one.chi2[0]) < float(out.chi2[j]):
            out.params[j], out.cov[j], out.chi2[j] = one.params[0], one.cov[0], one.chi2[0]
            out.converged[j], out.at_bound[j], out.cov_ok[j] = one.converged[0], one.at_bound[0], one.cov_ok[0]
    return out


def retry(
    outcome: FitOutcome, starts: list[Start], islands: list[IslandPixels], nretries: int, step: float = 0.1
) -> FitOutcome:
    """Refit islands ending on a bound with bounds widened by ``(1+n)·step·0.5·|max−min|`` (caesar
    ``fit-parboundincreasestep``, 0.1), up to ``nretries`` times, while widening still frees fits (a batch of
    equal component counts)."""
    params, cov, chi2 = outcome.params.copy(), outcome.cov.copy(), outcome.chi2.copy()
    conv, atb, cok = outcome.converged.copy(), outcome.at_bound.copy(), outcome.cov_ok.copy()
    lo = np.stack([s.lo for s in starts])
    hi = np.stack([s.hi for s in starts])
    previous = atb.size + 1
    for n in range(nretries):
        todo = np.flatnonzero(atb)
        if todo.size == 0 or todo.size >= previous:
            break  # nothing on a bound, or widening no longer frees any fit
        previous = todo.size
        widen = (1 + n) * step * 0.5 * np.abs(hi[todo] - lo[todo])
        lo[todo] -= widen
        hi[todo] += widen
        amp_cols = amplitude_columns(lo.shape[1])
        lo[todo, amp_cols] = np.maximum(lo[todo, amp_cols], 0.0)
        for sig in (3, 4):
            lo[todo, sig::NPAR] = np.maximum(lo[todo, sig::NPAR], 0.3)
        sub = solve([islands[i] for i in todo], params[todo], lo[todo], hi[todo])
        params[todo], cov[todo], chi2[todo] = sub.params, sub.cov, sub.chi2
        conv[todo], atb[todo], cok[todo] = sub.converged, sub.at_bound, sub.cov_ok
    return FitOutcome(params, cov, chi2, conv, atb, cok)
