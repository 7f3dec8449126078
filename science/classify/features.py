"""Morphology features per source, from caesar's island columns and (when fitted) its components.

Everything is computed from what caesar's files hold (``catalog-<base>.dat``: 33 island columns;
``catalog_fitcomp-<base>.dat``: 48 component columns), so a catalogue read back from disk gives the
same features as the in-memory table of :class:`~science.extract.extractor.SourceExtractor`.

Definitions (``fwhm = sqrt(4 ln 2 · beamArea / π)`` px, the geometric-mean beam FWHM; ``bkg = bkgSum/npix``,
``rms = rmsSum/npix``; ``peak = Smax − bkg``; component 1 is the brightest):

=====================  ============================================================================
``log_snr``            ``log10(peak / rms)`` (peak S/N, floored at 1e-3)
``log_nbeams``         ``log10(npix / beamArea)``
``flux_to_peak``       ``(Stot − bkgSum) / beamArea / peak`` (integrated over peak, 1 for a beam)
``extent_beams``       longer bounding-box side ``/ fwhm``
``bbox_aspect``        shorter / longer bounding-box side
``fill``               ``npix`` / bounding-box area
``centroid_shift``     distance between the unweighted and flux-weighted centroids ``/ fwhm``
``n_components``       fitted components (0 without a fit)
``n_nested``           nested sources (``nNestedSources``)
``nested_level``       ``sourceNestedLevel`` (0 mother, 1 nested)
``morph_id``           caesar ``morphId``
``log_area_ratio``     ``log10`` of component 1's fitted-ellipse area over the beam's
``axis_ratio``         component 1 ``bmin / bmaj``
``deconv_major``       component 1 beam-deconvolved major axis ``/ bmaj_beam``
``comp_peak_ratio``    component 2 peak / component 1 peak (0 with one component)
``comp_sep_beams``     largest distance between two components ``/ fwhm`` (0 with one)
``fit_flux_ratio``     fitted island flux ``S_island / ((Stot − bkgSum) / beamArea)``
``log_rchi2``          ``log10(chi2 / max(ndf, 1))`` of the island fit
``fit_quality``        caesar fit quality (−1…3)
``log_bright_ratio``   ``log10`` of (brightest peak within ``radius_beams`` / own peak), ≥ 0
``bright_dist``        distance to the nearest source ≥ ``bright_factor`` × brighter ``/ fwhm``, capped
``n_neighbours``       other sources within ``radius_beams``
=====================  ============================================================================

Component features are NaN for a source without fitted components (the model handles missing values).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.table import Table

from science.classify.errors import EmptyCatalogueError, MissingColumnsError
from science.errors import ParameterError
from science.extract.sources import CAESAR_COLUMNS

__all__ = [
    "COMPONENT_FEATURE_COLUMNS",
    "FEATURE_NAMES",
    "ISLAND_FEATURE_COLUMNS",
    "build_features",
    "component_groups",
    "feature_schema",
    "feature_table",
    "flatten_sources",
]

F64 = npt.NDArray[np.float64]

FEATURE_NAMES: tuple[str, ...] = (
    "log_snr",
    "log_nbeams",
    "flux_to_peak",
    "extent_beams",
    "bbox_aspect",
    "fill",
    "centroid_shift",
    "n_components",
    "n_nested",
    "nested_level",
    "morph_id",
    "log_area_ratio",
    "axis_ratio",
    "deconv_major",
    "comp_peak_ratio",
    "comp_sep_beams",
    "fit_flux_ratio",
    "log_rchi2",
    "fit_quality",
    "log_bright_ratio",
    "bright_dist",
    "n_neighbours",
)

#: Island (caesar ``.dat``) columns the features need.
ISLAND_FEATURE_COLUMNS: tuple[str, ...] = (
    "name",
    "npix",
    "nComponents",
    "nNestedSources",
    "x",
    "y",
    "x_w",
    "y_w",
    "xmin",
    "xmax",
    "ymin",
    "ymax",
    "Stot(Jy/beam)",
    "Smax(Jy/beam)",
    "beamArea",
    "bkgSum(Jy/beam)",
    "rmsSum(Jy/beam)",
    "morphId",
    "sourceNestedLevel",
)

#: Component (caesar ``_fitcomp.dat``) columns the features need.
COMPONENT_FEATURE_COLUMNS: tuple[str, ...] = (
    "name",
    "componentId",
    "x",
    "y",
    "Speak(Jy/beam)",
    "bmaj",
    "bmin",
    "bmaj_beam(arcsec)",
    "bmaj_deconv_wcs(arcsec)",
    "fitBeamEllipseAreaRatio",
    "S_island(Jy)",
    "chi2",
    "ndf",
    "fitQuality",
)

#: Parameters of the neighbourhood features (part of the feature schema).
CONTEXT = {"radius_beams": 10.0, "bright_factor": 10.0, "bright_dist_cap": 100.0}


def feature_schema() -> str:
    """Digest of the feature names and context parameters; a model is only valid for the schema it was trained on."""
    text = ",".join(FEATURE_NAMES) + "|" + ",".join(f"{k}={v}" for k, v in sorted(CONTEXT.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_columns(table: Table, needed: Sequence[str], what: str) -> None:
    missing = [c for c in needed if c not in table.colnames]
    if missing:
        raise MissingColumnsError(
            f"{what} lacks column(s) {', '.join(missing)}; classification needs {', '.join(needed)}",
            missing=missing,
        )


def component_groups(table: Table, components: Table | None = None) -> dict[str, list[Mapping[str, Any]]]:
    """Fitted components per island name: from ``components`` (a 48-column table) or the ``components`` column.

    Raises
    ------
    MissingColumnsError
        If ``components`` lacks a column the features need.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    if components is not None:
        _check_columns(components, COMPONENT_FEATURE_COLUMNS, "the component catalogue")
        for row in components:
            groups.setdefault(str(row["name"]), []).append(row)
    elif "components" in table.colnames:
        for name, comps in zip(table["name"], table["components"], strict=True):
            if comps:
                groups[str(name)] = list(comps)
    for comps in groups.values():
        comps.sort(key=lambda c: int(c["componentId"]))
    return groups


def _component_features(comps: Sequence[Mapping[str, Any]], fwhm: float, island_flux: float) -> list[float]:
    """``log_area_ratio … fit_quality`` of one island (NaN without components)."""
    if not comps:
        return [math.nan] * 8
    first = comps[0]
    bmaj, bmin = float(first["bmaj"]), float(first["bmin"])
    xy = np.array([[float(c["x"]), float(c["y"])] for c in comps])
    sep = float(np.max(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)))) if len(comps) > 1 else 0.0
    peak2 = float(comps[1]["Speak(Jy/beam)"]) / float(first["Speak(Jy/beam)"]) if len(comps) > 1 else 0.0
    return [
        math.log10(max(float(first["fitBeamEllipseAreaRatio"]), 1e-6)),
        bmin / bmaj if bmaj > 0 else math.nan,
        float(first["bmaj_deconv_wcs(arcsec)"]) / float(first["bmaj_beam(arcsec)"]),
        peak2,
        sep / fwhm,
        float(first["S_island(Jy)"]) / island_flux if island_flux > 0 else math.nan,
        math.log10(max(float(first["chi2"]) / max(float(first["ndf"]), 1.0), 1e-6)),
        float(first["fitQuality"]),
    ]


def _context(xy: F64, peak: F64, fwhm: F64, mothers: npt.NDArray[np.bool_], chunk: int = 512) -> F64:
    """``log_bright_ratio``, ``bright_dist``, ``n_neighbours`` per row; neighbours are mother sources only."""
    n = len(peak)
    out = np.zeros((n, 3))
    out[:, 1] = CONTEXT["bright_dist_cap"]
    ref = np.flatnonzero(mothers)
    if len(ref) == 0:
        return out
    safe_peak = np.maximum(peak, 1e-30)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        dist = np.hypot(*(xy[rows, None, :] - xy[None, ref, :]).transpose(2, 0, 1)) / fwhm[rows, None]
        dist[rows[:, None] == ref[None, :]] = np.inf
        ratio = peak[None, ref] / safe_peak[rows, None]
        near = dist <= CONTEXT["radius_beams"]
        out[rows, 0] = np.log10(np.maximum(1.0, np.where(near, ratio, 0.0).max(axis=1)))
        bright = np.where(ratio >= CONTEXT["bright_factor"], dist, np.inf).min(axis=1)
        out[rows, 1] = np.minimum(bright, CONTEXT["bright_dist_cap"])
        out[rows, 2] = near.sum(axis=1)
    return out


def flatten_sources(table: Table) -> Table:
    """One row per source, as in caesar's ``.dat``: each island, then its nested sources named ``S<k>_N<l>``.

    Keeps caesar's 33 columns and, when present, ``components`` and ``contour``; a table without nested sources (or
    read back from a ``.dat``, where nested rows are already rows) comes back with the same rows.

    Raises
    ------
    MissingColumnsError
        If a caesar column is missing.
    """
    names = [n for n, _ in CAESAR_COLUMNS]
    _check_columns(table, names, "the island catalogue")
    extras = [c for c in ("components", "contour") if c in table.colnames]
    if "nested" not in table.colnames or not any(len(n) for n in table["nested"]):
        return Table(table[[*names, *extras]], copy=True)
    rows: list[dict[str, Any]] = []
    for row in table:
        rows.append({n: row[n] for n in [*names, *extras]})
        for k, nested in enumerate(row["nested"], start=1):
            entry = {n: nested[n] for n in names if n != "name"}
            entry["name"] = f"{row['name']}_N{k}"
            entry["components"] = list(nested.get("components", []))
            entry["contour"] = np.asarray(nested.get("contour", np.empty((0, 2), np.int32)))
            rows.append(entry)
    out = Table({n: np.array([r[n] for r in rows], dtype=d) for n, d in CAESAR_COLUMNS})
    for extra in extras:
        col = np.empty(len(rows), dtype=object)
        for i, r in enumerate(rows):
            col[i] = r[extra]
        out[extra] = col
    return out


def build_features(table: Table, components: Table | None = None) -> F64:
    """Feature matrix, one row per table row, columns :data:`FEATURE_NAMES`.

    Parameters
    ----------
    table
        Island table (in memory, or read back from ``catalog-<base>.dat``) with
        :data:`ISLAND_FEATURE_COLUMNS`; in-memory nested sources become rows after their mother
        (:func:`flatten_sources`), as nested rows of a ``.dat`` already are.
    components
        Component table (``catalog_fitcomp-<base>.dat``); default the table's ``components`` column.

    Raises
    ------
    EmptyCatalogueError
        If the table has no rows.
    MissingColumnsError
        If a needed column is missing.
    ParameterError
        If a row has a non-positive ``npix`` or ``beamArea``.
    """
    _check_columns(table, ISLAND_FEATURE_COLUMNS, "the island catalogue")
    if "nested" in table.colnames:
        table = flatten_sources(table)
    if len(table) == 0:
        raise EmptyCatalogueError("the catalogue has no sources to classify")

    def col(name: str) -> F64:
        return np.asarray(table[name], dtype=np.float64)

    npix, area = col("npix"), col("beamArea")
    if np.any(npix <= 0) or np.any(area <= 0):
        raise ParameterError("every source needs npix > 0 and beamArea > 0")
    fwhm = np.sqrt(4.0 * math.log(2.0) * area / math.pi)
    bkg, rms = col("bkgSum(Jy/beam)") / npix, col("rmsSum(Jy/beam)") / npix
    peak = col("Smax(Jy/beam)") - bkg
    safe_peak = np.where(peak > 0, peak, np.nan)
    flux = (col("Stot(Jy/beam)") - col("bkgSum(Jy/beam)")) / area
    width, height = col("xmax") - col("xmin") + 1, col("ymax") - col("ymin") + 1
    groups = component_groups(table, components)
    comp = np.array(
        [
            _component_features(groups.get(str(name), []), f, fl)
            for name, f, fl in zip(table["name"], fwhm, flux, strict=True)
        ]
    ).reshape(len(table), 8)
    xy = np.column_stack([col("x_w"), col("y_w")])
    context = _context(xy, peak, fwhm, col("sourceNestedLevel") == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        island = np.column_stack(
            [
                np.log10(np.maximum(peak / np.where(rms > 0, rms, np.nan), 1e-3)),
                np.log10(npix / area),
                flux / safe_peak,
                np.maximum(width, height) / fwhm,
                np.minimum(width, height) / np.maximum(width, height),
                npix / (width * height),
                np.hypot(col("x") - col("x_w"), col("y") - col("y_w")) / fwhm,
                col("nComponents"),
                col("nNestedSources"),
                col("sourceNestedLevel"),
                col("morphId"),
            ]
        )
    features: F64 = np.column_stack([island, comp, context])
    return features


def feature_table(table: Table, components: Table | None = None) -> Table:
    """:func:`build_features` as a table with the source names and one column per feature."""
    values = build_features(table, components)
    names = flatten_sources(table)["name"] if "nested" in table.colnames else table["name"]
    out = Table({"name": np.asarray(names).astype(str)})
    for k, name in enumerate(FEATURE_NAMES):
        out[name] = values[:, k]
    return out
