"""Match a detected catalogue to a simulation truth table: completeness and reliability."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from scipy.spatial import cKDTree

from science.errors import ParameterError

__all__ = ["MatchResult", "match_to_truth"]


@dataclass(frozen=True, eq=False)
class MatchResult:
    """Outcome of :func:`match_to_truth`.

    Attributes
    ----------
    completeness
        Matched / all truth sources with ``snr ≥ snr_min`` (1.0 when there are none).
    reliability
        Matched detections / all detections (1.0 when nothing was detected).
    n_matched, n_truth, n_detected
        Matched pairs (all S/N), truth sources with ``snr ≥ snr_min``, detections.
    truth_index, detected_index
        Row indices of the matched pairs.
    by_snr
        Table ``snr_lo, snr_hi, n_truth, n_matched, completeness`` per S/N bin.
    """

    completeness: float
    reliability: float
    n_matched: int
    n_truth: int
    n_detected: int
    truth_index: npt.NDArray[np.intp]
    detected_index: npt.NDArray[np.intp]
    by_snr: Table


def _pairs(
    det: npt.NDArray[np.float64], truth: npt.NDArray[np.float64], radius: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """One-to-one pairs, closest first (greedy on distance)."""
    if len(det) == 0 or len(truth) == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    sparse = cKDTree(truth).sparse_distance_matrix(cKDTree(det), radius, output_type="ndarray")
    order = np.argsort(sparse["v"], kind="stable")
    used_t: set[int] = set()
    used_d: set[int] = set()
    ti, di = [], []
    for k in order:
        t, d = int(sparse["i"][k]), int(sparse["j"][k])
        if t not in used_t and d not in used_d:
            used_t.add(t)
            used_d.add(d)
            ti.append(t)
            di.append(d)
    return np.asarray(ti, np.intp), np.asarray(di, np.intp)


def match_to_truth(
    catalogue: Table,
    truth: Table,
    *,
    radius_pix: float,
    snr_min: float = 0.0,
    snr_bins: Sequence[float] = (3.0, 5.0, 7.0, 10.0, 20.0, 50.0, np.inf),
    x_col: str = "x",
    y_col: str = "y",
) -> MatchResult:
    """Nearest-neighbour one-to-one matching of detections to truth within ``radius_pix``.

    Parameters
    ----------
    catalogue
        Detections with pixel columns ``x_col``, ``y_col`` (default the unweighted centroid).
    truth
        Truth table with ``x``, ``y``, ``snr``.
    radius_pix
        Match radius, pixels.
    snr_min
        Completeness counts truth sources with ``snr ≥ snr_min``; reliability counts every truth source
        as real.
    snr_bins
        Bin edges of ``by_snr``.

    Returns
    -------
    MatchResult

    Raises
    ------
    ParameterError
        If ``radius_pix`` is not positive or a column is missing.
    """
    if not radius_pix > 0:
        raise ParameterError(f"radius_pix must be positive, got {radius_pix!r}")
    for table, cols in ((catalogue, (x_col, y_col)), (truth, ("x", "y", "snr"))):
        missing = [c for c in cols if c not in table.colnames]
        if missing:
            raise ParameterError(f"table lacks column(s) {missing}")
    det = np.column_stack([np.asarray(catalogue[x_col], float), np.asarray(catalogue[y_col], float)])
    tru = np.column_stack([np.asarray(truth["x"], float), np.asarray(truth["y"], float)])
    ti, di = _pairs(det.reshape(-1, 2), tru.reshape(-1, 2), radius_pix)
    snr = np.asarray(truth["snr"], float)
    matched = np.zeros(len(truth), bool)
    matched[ti] = True
    wanted = snr >= snr_min
    n_truth = int(wanted.sum())
    edges = np.asarray(snr_bins, float)
    lo, hi = edges[:-1], edges[1:]
    n_bin = np.array([int(((snr >= a) & (snr < b)).sum()) for a, b in zip(lo, hi, strict=True)])
    m_bin = np.array([int(((snr >= a) & (snr < b) & matched).sum()) for a, b in zip(lo, hi, strict=True)])
    with np.errstate(invalid="ignore", divide="ignore"):
        comp = np.where(n_bin > 0, m_bin / np.maximum(n_bin, 1), np.nan)
    by_snr = Table({"snr_lo": lo, "snr_hi": hi, "n_truth": n_bin, "n_matched": m_bin, "completeness": comp})
    return MatchResult(
        completeness=float(matched[wanted].sum() / n_truth) if n_truth else 1.0,
        reliability=float(len(di) / len(catalogue)) if len(catalogue) else 1.0,
        n_matched=len(ti),
        n_truth=n_truth,
        n_detected=len(catalogue),
        truth_index=ti,
        detected_index=di,
        by_snr=by_snr,
    )
