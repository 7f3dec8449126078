"""caesar fitted-component products: ``catalog_fitcomp-<base>.dat``, ``catalog_fitcomp-<base>.json``, ``ds9_fitcomp-<base>.reg``.

Formats follow ``docs/caesar-extraction.md`` §10.2, §10.4 and §10.5 (caesar ``WriteComponentsToAscii``,
``WriteComponentsToJson``): one row per component, nested sources' components right after their mother's;
columns 1–8 with 6 significant digits, ``setprecision(8)`` from column 9 (``x_wcs``) on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import Table

from science.errors import InvalidCatalogueError
from science.extract.components import COMPONENT_COLUMNS
from science.extract.sources import MORPH_LABELS
from science.io.text import row_format, table_rows, write_json_records

if TYPE_CHECKING:
    from science.io.sky_regions import SkyRegions

__all__ = [
    "COMPONENT_HEADER",
    "component_rows",
    "component_table",
    "read_component_catalogue",
    "write_component_catalogue",
    "write_component_json",
    "write_component_regions",
]

_DESCRIPTIONS = (
    ("name", "Island source name assigned by finder"),
    ("npix", "Number of pixels in source"),
    ("componentId", "Fitted component id"),
    ("iauName", "Fitted component name in IAU notation"),
    ("x", "Fitted component centroid in image coordinates along x axis "),
    ("y", "Fitted component centroid in image coordinates along y axis "),
    ("x_err", "Fitted component centroid error in image coordinates along x axis "),
    ("y_err", "Fitted component centroid error in image coordinates along y axis "),
    ("x_wcs", "Fitted component centroid in selected WCS coordinate (deg) along x axis"),
    ("y_wcs", "Fitted component centroid in selected WCS coordinate (deg) along y axis"),
    ("x_wcs_err", "Fitted component centroid error in selected WCS coordinate (deg) along x axis"),
    ("y_wcs_err", "Fitted component centroid error in selected WCS coordinate (deg) along y axis"),
    ("nu", "Spectral axis value present in image header. If frequency it is given in GHz units."),
    ("Speak", "Fitted component peak brightness in Jy/beam units."),
    ("Speak_err", "Fitted component peak brightness error in Jy/beam units."),
    ("S", "Fitted component flux density in Jy units"),
    ("S_err", "Fitted component flux density error in Jy units"),
    ("S_island", "Fitted island flux density in Jy units"),
    ("S_island_err", "Fitted island flux density error in Jy units"),
    (
        "beamArea",
        "Number of pixels in beam. Used to convert flux parameters from Jy/beam to Jy/pixel "
        "(e.g. Jy/pixel=Jy/beam/beamarea).",
    ),
    ("bmaj", "Fitted component ellipse major axis in image coordinates"),
    ("bmin", "Fitted component ellipse major axis in image coordinates"),
    ("pa", "Fitted component ellipse position angles in deg (measured counterclock-wise from North)"),
    ("bmaj_err", "Fitted component ellipse major axis error in image coordinates"),
    ("bmin_err", "Fitted component ellipse major axis error in image coordinates"),
    ("pa_err", "Fitted component ellipse position angles error in deg"),
    ("bmaj_wcs", "Fitted component ellipse major axis in selected WCS coordinates (arcsec)"),
    ("bmin_wcs", "Fitted component ellipse major axis in selected WCS coordinates (arcsec)"),
    ("pa_wcs", "Fitted component ellipse position angles in deg (measured counterclock-wise from North)"),
    ("bmaj_wcs_err", "Fitted component ellipse major axis error in selected WCS coordinates (arcsec)"),
    ("bmin_wcs_err", "Fitted component ellipse major axis error in selected WCS coordinates (arcsec)"),
    ("pa_wcs_err", "Fitted component ellipse position angles error in deg"),
    ("bmaj_beam", "Beam ellipse major axis (arcsec)"),
    ("bmin_beam", "Beam ellipse minor axis (arcsec)"),
    ("pa_beam", "Beam ellipse position angles in deg (measured counterclock-wise from North)"),
    (
        "bmaj_deconv_wcs",
        "Fitted component ellipse major axis in selected WCS coordinates, deconvolved by beam (arcsec)",
    ),
    (
        "bmin_deconv_wcs",
        "Fitted component ellipse major axis in selected WCS coordinates, deconvolved by beam (arcsec)",
    ),
    (
        "pa_deconv_wcs",
        "Fitted component ellipse position angles in deg, deconvolved by beam (measured counterclock-wise from North)",
    ),
    ("fitBeamEllipseEccentricityRatio", "Ratio between eccentricities of fitted and beam ellipses"),
    ("fitBeamEllipseAreaRatio", "Ratio between areas of fitted ellipse and beam ellipse "),
    ("fitBeamEllipseRotAngle", "Rotation angle in degrees (range 0-180) between fit ellipse and beam ellipse "),
    ("bkgSum", "Background estimator summed over all source pixels (in Jy/beam)."),
    ("rmsSum", "Noise (rms) estimator summed over all source pixels (in Jy/beam)."),
    ("chi2", "Fit chisquare."),
    ("ndf", "Fit number of degrees of freedom."),
    ("fitQuality", "Fit quality flag (eBadFit=0,eLQFit=1,eMQFit=2,eHQFit=3)"),
    ("sourcenessId", "Fitted component sourceness flag (eReal=1, eCandidate=2, eFake=3)"),
    (
        "morphId",
        "Fitted component morphology flag (eUnknownMorph=0, eCompact=1, ePoint-Like=2, eExtended=3, "
        "eCompactExtended=4, eDiffuse=5)",
    ),
)

#: Header lines of ``catalog_fitcomp-<base>.dat`` up to and including the column-name line (no newlines).
COMPONENT_HEADER: tuple[str, ...] = (
    "#======== CAESAR RESULTS ======",
    "# This ascii file contains source components fitted to islands/blobs detected by CAESAR.",
    "# Source parameters are described in the header below.",
    "#",
    "# ---- HEADER ----",
    *(f"# {short} - {descr}" for short, descr in _DESCRIPTIONS),
    "# ---------------",
    "#",
    "# " + "".join(f"{name}\t" for name, _ in COMPONENT_COLUMNS),
)

_QUALITY_TAGS = {0: "BAD-FIT", 1: "LQ-FIT", 2: "MQ-FIT", 3: "HQ-FIT"}
_REGION_HEADER = (
    "# Region file format: DS9 version 4.1",
    'global color=red font="helvetica 8 normal" edit=1 move=1 delete=1 include=1',
    "image",
)


def component_rows(table: Table) -> Iterator[dict[str, Any]]:
    """Every component of every island (then of its nested sources), with ``name`` set to the island's."""
    for row in table_rows(table):
        for comp in row["components"]:
            yield {**comp, "name": str(row["name"])}
        for k, nested in enumerate(row["nested"], start=1):
            for comp in nested.get("components", []):
                yield {**comp, "name": f"{row['name']}_N{k}"}


def component_table(table: Table) -> Table:
    """The components of an island table as a table with the 48 :data:`COMPONENT_COLUMNS` (empty if none)."""
    rows = list(component_rows(table))
    return Table({name: np.array([r[name] for r in rows], dtype=dtype) for name, dtype in COMPONENT_COLUMNS})


# 6 significant digits for columns 1–8, then setprecision(8).
_LINE_FORMAT, _LINE_NAMES = row_format(COMPONENT_COLUMNS, 8)


def _line(comp: Mapping[str, Any]) -> str:
    return _LINE_FORMAT % tuple([comp[name] for name in _LINE_NAMES])


def write_component_catalogue(table: Table, path: str | Path) -> Path:
    """Write ``catalog_fitcomp-<base>.dat`` (header + one line per component)."""
    out = Path(path)
    out.write_text("\n".join([*COMPONENT_HEADER, *(_line(c) for c in component_rows(table))]) + "\n", encoding="ascii")
    return out


def read_component_catalogue(path: str | Path) -> Table:
    """Parse ``catalog_fitcomp-<base>.dat`` back into a table with the 48 columns.

    Raises
    ------
    InvalidCatalogueError
        If the file cannot be read, lacks the column-name line or a row has the wrong field count.
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidCatalogueError(f"cannot read component catalogue {p.name}: {exc}") from exc
    names = [n for n, _ in COMPONENT_COLUMNS]
    if COMPONENT_HEADER[-1] not in lines:
        raise InvalidCatalogueError(f"{p.name} has no caesar column-name line with the 48 component columns")
    rows = [ln.split("\t") for ln in lines if ln and not ln.startswith("#")]
    for number, fields in enumerate(rows, start=1):
        if len(fields) != len(names):
            raise InvalidCatalogueError(f"{p.name} row {number} has {len(fields)} fields, expected {len(names)}")
    cols = {}
    for i, (name, dtype) in enumerate(COMPONENT_COLUMNS):
        try:
            cols[name] = np.array([r[i] for r in rows], dtype="f8" if dtype.startswith("i") else dtype).astype(dtype)
        except ValueError as exc:
            raise InvalidCatalogueError(f"{p.name} column {name} has an unparsable value: {exc}") from exc
    return Table(cols)


_JSON_KEYS = (
    ("nPix", "npix"), ("componentId", "componentId"), ("iauName", "iauName"), ("x0", "x"), ("y0", "y"),
    ("x0Err", "x_err"), ("y0Err", "y_err"), ("x0_wcs", "x_wcs(deg)"), ("y0_wcs", "y_wcs(deg)"),
    ("x0Err_wcs", "x_wcs_err(deg)"), ("y0Err_wcs", "y_wcs_err(deg)"), ("nu", "nu(GHz)"), ("A", "Speak(Jy/beam)"),
    ("Aerr", "Speak_err(Jy/beam)"), ("fluxDensity", "flux_density"), ("fluxDensityErr", "flux_density_err"),
    ("beamArea", "beamArea"), ("bmaj", "bmaj"), ("bmin", "bmin"), ("pa", "pa"), ("bmajErr", "bmaj_err"),
    ("bminErr", "bmin_err"), ("paErr", "pa_err"), ("bmaj_wcs", "bmaj_wcs(arcsec)"), ("bmin_wcs", "bmin_wcs(arcsec)"),
    ("pa_wcs", "pa_wcs(deg)"), ("bmajErr_wcs", "bmaj_wcs_err(arcsec)"), ("bminErr_wcs", "bmin_wcs_err(arcsec)"),
    ("paErr_wcs", "pa_wcs_err(deg)"), ("bmaj_beam", "bmaj_beam(arcsec)"), ("bmin_beam", "bmin_beam(arcsec)"),
    ("pa_beam", "pa_beam(deg)"), ("bmaj_deconv_wcs", "bmaj_deconv_wcs(arcsec)"),
    ("bmin_deconv_wcs", "bmin_deconv_wcs(arcsec)"), ("pa_deconv_wcs", "pa_deconv_wcs(deg)"),
    ("eccentricityRatio", "fitBeamEllipseEccentricityRatio"), ("areaRatio", "fitBeamEllipseAreaRatio"),
    ("rotAngle", "fitBeamEllipseRotAngle"), ("bkgSum", "bkgSum(Jy/beam)"), ("bkgRMSSum", "rmsSum(Jy/beam)"),
    ("chi2", "chi2"), ("ndf", "ndf"), ("fitQuality", "fitQuality"), ("sourceness", "sourcenessId"),
    ("morphId", "morphId"),
)  # fmt: skip


def _plain(value: Any) -> str | int | float:
    """A JSON value of a component: a string, or a number as a Python int or float."""
    if isinstance(value, str):
        return value
    return int(value) if isinstance(value, int | np.integer) else float(value)


def _json_component(comp: Mapping[str, Any]) -> dict[str, Any]:
    area = float(comp["beamArea"])
    out: dict[str, Any] = {"name": comp["name"]}
    for key, src in _JSON_KEYS:
        value = comp[src]
        kind = type(value)  # most values are Python's own already: the isinstance checks cost more than encoding
        out[key] = value if kind is float or kind is int or kind is str else _plain(value)
        if key == "beamArea":
            out["fluxDensityTot"] = float(comp["S_island(Jy)"]) * area
            out["fluxDensityTotErr"] = float(comp["S_island_err(Jy)"]) * area
    return out


def write_component_json(table: Table, path: str | Path) -> Path:
    """Write ``catalog_fitcomp-<base>.json`` (``{"components": [...]}``, §10.4; ``fluxDensity`` in Jy/beam·px)."""
    return write_json_records(Path(path), {}, "components", (_json_component(c) for c in component_rows(table)))


def write_component_regions(table: Table, path: str | Path, sky: SkyRegions | None = None) -> Path:
    """Write ``ds9_fitcomp-<base>.reg``: one ellipse per component (half-FWHM radii, θ from the x axis; in the
    sky with ``sky``, caesar ``convertregionstowcs``)."""
    lines = [*_REGION_HEADER[:2], "image" if sky is None else sky.frame_line]
    for comp in component_rows(table):
        theta = float(comp["pa"]) + 90.0
        tag = _QUALITY_TAGS.get(int(comp["fitQuality"]), "UNKNOWN-FIT-QUALITY")
        morph = MORPH_LABELS.get(int(comp["morphId"]), "UNKNOWN-MORPH")
        sourceness = {1: "REAL", 2: "CANDIDATE", 3: "FALSE"}.get(int(comp["sourcenessId"]), "CANDIDATE")
        x, y, r1, r2 = float(comp["x"]), float(comp["y"]), float(comp["bmaj"]) / 2, float(comp["bmin"]) / 2
        shape = (
            f"ellipse {x + 1:g} {y + 1:g} {r1:g} {r2:g} {theta:g}" if sky is None else sky.ellipse(x, y, r1, r2, theta)
        )
        lines.append(
            f"{shape} # text={{{comp['name']}_fitcomp{int(comp['componentId'])}}} "
            f"color=red tag={{{morph}}} tag={{FIT-COMPONENT}} tag={{{sourceness}}} tag={{{tag}}} "
        )
    out = Path(path)
    out.write_text("\n".join(lines) + "\n", encoding="ascii")
    return out
