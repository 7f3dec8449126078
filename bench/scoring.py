"""Scoring a finder's catalogue against the simulation's truth: completeness, reliability, flux ratios, and
the paired comparison of two finders (which sources only one of them finds, with the sign test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MATCH_RADIUS_PIX", "catalogue", "paired", "score", "split_causes"]

#: A detection within this many pixels of a truth source matches it.
MATCH_RADIUS_PIX = 3.0


def catalogue(finder: str, out: Path) -> Any:
    """A finder's detections (``x, y, peak_jy, flux_jy``) from its output folder: this engine's components
    and its fit-less islands, sidelobe artefacts (FAKE) left out; a peer's CSV."""
    from astropy.table import Table

    if finder == "cirasa":
        from astropy.table import vstack

        from science.io.catalogue import read_island_catalogue
        from science.io.components import read_component_catalogue

        comps = read_component_catalogue(next(out.glob("catalog_fitcomp-*.dat")))
        comps = comps[comps["sourcenessId"] != 3]
        found = Table({"x": comps["x"], "y": comps["y"], "peak_jy": comps["Speak(Jy/beam)"], "flux_jy": comps["S(Jy)"]})
        # Islands too big to fit (> fit-maxnbeams) have no component but are detections of caesar's catalogue
        # too: their flux-weighted centre, background-subtracted peak and integrated flux.
        # (an island not fitted as a whole whose nested sources were fitted is found by their components)
        isl = read_island_catalogue(next(out.glob("catalog-*.dat")))
        nested = isl[(isl["sourceNestedLevel"] == 1) & (isl["nComponents"] > 0)]
        by_nested = np.isin(isl["name"], [str(n).rsplit("_N", 1)[0] for n in nested["name"]])
        isl = isl[(isl["nComponents"] == 0) & (isl["sourcenessId"] != 3) & (isl["sourceNestedLevel"] == 0) & ~by_nested]
        peak = np.asarray(isl["Smax(Jy/beam)"]) - np.asarray(isl["bkgSum(Jy/beam)"]) / np.asarray(isl["npix"])
        flux = np.asarray(isl["Stot(Jy/beam)"]) / np.asarray(isl["beamArea"])
        return vstack([found, Table({"x": isl["x_w"], "y": isl["y_w"], "peak_jy": peak, "flux_jy": flux})])
    return Table.read(out / f"{finder}.csv", format="ascii.csv")


def _ratio_stats(values: Any) -> dict[str, float]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {}
    med = float(np.median(v))
    return {
        "median": round(med, 4),
        "mean": round(float(v.mean()), 4),
        "std": round(float(v.std()), 4),
        "robust_std": round(1.4826 * float(np.median(np.abs(v - med))), 4),
        "n": int(v.size),
    }


def score(finder: str, out: Path, truth: Any) -> dict[str, Any]:
    """Completeness, reliability and flux ratios of one finder's catalogue against the real truth rows."""
    from science.match import match_to_truth

    cat = catalogue(finder, out)
    real = truth[truth["class"] != "spurious"]
    scores: dict[str, Any] = {"n_detected": len(cat)}
    for snr in (5.0, 7.0):
        result = match_to_truth(cat, real, radius_pix=MATCH_RADIUS_PIX, snr_min=snr)
        scores[f"completeness_snr{int(snr)}"] = round(result.completeness, 4)
        scores["reliability"] = round(result.reliability, 4)
    bright = real["snr"][result.truth_index] > 10
    ti, di = result.truth_index[bright], result.detected_index[bright]
    scores["int_flux_ratio_snr10"] = _ratio_stats(np.asarray(cat["flux_jy"])[di] / real["flux_jy"][ti])
    scores["peak_flux_ratio_snr10"] = _ratio_stats(np.asarray(cat["peak_jy"])[di] / real["peak_jy"][ti])
    point = real["kind"][ti] == "point"
    scores["int_flux_ratio_snr10_point"] = _ratio_stats(
        np.asarray(cat["flux_jy"])[di][point] / real["flux_jy"][ti][point]
    )
    spurious = truth[truth["class"] == "spurious"]
    unmatched = np.setdiff1d(np.arange(len(cat)), result.detected_index)
    if len(unmatched) and len(spurious):
        scores["false_on_sidelobes"] = match_to_truth(cat[unmatched], spurious, radius_pix=4.0).n_matched
    scores["false_detections"] = len(unmatched)
    return scores


def paired(mine: Path, peer: Path, peer_finder: str, truth: Any, snr_min: float = 5.0) -> dict[str, Any]:
    """Sources (real, S/N ≥ ``snr_min``) found by only one of two catalogues, and the exact two-sided sign
    test of that split (McNemar): whether a completeness difference is more than this image's luck."""
    from scipy.stats import binomtest

    from science.match import match_to_truth

    real = truth[truth["class"] != "spurious"]
    bright = set(np.flatnonzero(np.asarray(real["snr"]) >= snr_min).tolist())
    found = [
        bright
        & set(match_to_truth(catalogue(f, d), real, radius_pix=MATCH_RADIUS_PIX, snr_min=snr_min).truth_index.tolist())
        for f, d in (("cirasa", mine), (peer_finder, peer))
    ]
    only_mine, only_peer = len(found[0] - found[1]), len(found[1] - found[0])
    n = only_mine + only_peer
    return {
        f"only_{peer_finder}": only_peer,
        "only_this": only_mine,
        "p_value": float(f"{binomtest(only_mine, n, 0.5).pvalue:.2g}") if n else 1.0,
    }


def _seeded(data: Any, level: Any, rms: Any, xy: Any, thr: float, half: int = 2) -> Any:
    """Whether the brightest pixel within ``half`` px of each position is at least ``thr`` noise above the
    background: what any seed-threshold finder on those maps can start from."""
    ny, nx = data.shape
    out = np.zeros(len(xy), bool)
    for n, (x, y) in enumerate(np.asarray(xy, float)):
        cx, cy = round(float(x)), round(float(y))
        ys, xs = slice(max(cy - half, 0), min(cy + half + 1, ny)), slice(max(cx - half, 0), min(cx + half + 1, nx))
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (np.asarray(data[ys, xs], float) - level[ys, xs]) / rms[ys, xs]
        out[n] = bool(np.isfinite(z).any() and np.nanmax(z) >= thr)
    return out


def split_causes(
    mine: Path,
    peer: Path,
    peer_finder: str,
    truth: Any,
    data: Any,
    maps: tuple[Any, Any],
    peer_maps: tuple[Any, Any],
    seedthr: float = 5.0,
) -> dict[str, dict[str, int]]:
    """Why each real S/N ≥ 5 source found by only one of two finders was missed by the other: ``below_seed``
    (its peak is under the other's seed threshold on the other's background and noise maps, while over it on
    the finder's own: the two noise maps decide) or ``lost_after_seed`` (over both thresholds: the other's
    later stages, for this engine the fitting and the artefact flags, lost it), ``other`` (neither map seeds it
    by a pixel: found through a neighbour, or, for this engine with ``seedpeakinterp``, seeded by its
    interpolated peak). ``maps`` = this engine's ``(level, rms)``, ``peer_maps`` the peer's."""
    from science.match import match_to_truth

    real = truth[truth["class"] != "spurious"]
    bright = np.flatnonzero(np.asarray(real["snr"]) >= 5.0)
    found = [
        set(match_to_truth(catalogue(f, d), real, radius_pix=MATCH_RADIUS_PIX, snr_min=5.0).truth_index.tolist())
        for f, d in (("cirasa", mine), (peer_finder, peer))
    ]
    xy = np.column_stack([np.asarray(real["x"], float), np.asarray(real["y"], float)])
    seeded = [_seeded(data, *m, xy, seedthr) for m in (maps, peer_maps)]
    out: dict[str, dict[str, int]] = {}
    for me, other, key in ((0, 1, "only_this"), (1, 0, f"only_{peer_finder}")):
        counts = {"below_seed": 0, "lost_after_seed": 0, "other": 0}
        for i in bright:
            if i in found[me] and i not in found[other]:
                if seeded[other][i]:
                    counts["lost_after_seed"] += 1
                elif seeded[me][i]:
                    counts["below_seed"] += 1
                else:
                    counts["other"] += 1
        out[key] = counts
    return out
