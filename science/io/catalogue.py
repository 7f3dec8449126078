"""caesar output files: island catalogue ``catalog-<base>.dat``, DS9 ``ds9-<base>.reg``, JSON ``catalog-<base>.json``.

Formats follow ``docs/caesar-extraction.md`` §10 (caesar ``SourceExporter::WriteToAscii``,
``SFinder::SaveDS9RegionFile``). Number formatting mimics C++ ``ostream``: columns 1–9 with the default
6 significant digits, then ``setprecision(8)`` for the rest of the row (``%g`` style, integers as
integers). No sources → no catalogue files (as caesar), but the region file is still written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import Table

from science.errors import InvalidCatalogueError
from science.extract.components import FIT_QUALITY_LABELS
from science.extract.sources import CAESAR_COLUMNS, MORPH_LABELS, SOURCENESS_LABELS, empty_island_table
from science.io.components import write_component_catalogue, write_component_json, write_component_regions
from science.io.text import row_format, table_rows, write_json_records

if TYPE_CHECKING:
    from science.io.sky_regions import SkyRegions

__all__ = [
    "CATALOGUE_HEADER",
    "catalogue_paths",
    "format_row",
    "read_island_catalogue",
    "write_catalogue_products",
    "write_island_catalogue",
    "write_island_json",
    "write_regions",
]

logger = logging.getLogger(__name__)

_DESCRIPTIONS = (
    "Source name assigned by finder",
    "Source name in IAU notation",
    "Number of pixels in source",
    "Number of fitted components (=0 if fit not performed or failed)",
    "Number of nested sources detected",
    "Source centroid in image coordinates along x axis ",
    "Source centroid in image coordinates along y axis ",
    "Source centroid in image coordinates along x axis, weighted by pixel fluxes ",
    "Source centroid in image coordinates along y axis, weighted by pixel fluxes ",
    "Source centroid in selected WCS coordinate (deg) along x axis",
    "Source centroid in selected WCS coordinate (deg) along y axis",
    "Source centroid in selected selected WCS coordinate (deg) along x axis, weighted by pixel fluxes",
    "Source centroid in selected selected WCS coordinate (deg) along y axis, weighted by pixel fluxes",
    "Source minimum pixel image coordinate along x axis",
    "Source maximum pixel image coordinate along x axis",
    "Source minimum pixel image coordinate along y axis",
    "Source maximum pixel image coordinate along y axis",
    "Source minimum pixel WCS coordinate (deg) along x axis",
    "Source maximum pixel WCS coordinate (deg) along x axis",
    "Source minimum pixel WCS coordinate (deg) along y axis",
    "Source maximum pixel WCS coordinate (deg) along y axis",
    "Spectral axis value present in image header. If frequency it is given in GHz units.",
    "Sum of source pixel brightness in Jy/beam units.",
    "Maximum source pixel flux in Jy/beam units.",
    "Fitted source flux density in Jy units",
    "Fitted source flux density error in Jy units",
    "Number of pixels in beam. Used to convert flux parameters from Jy/beam to Jy/pixel "
    "(e.g. Jy/pixel=Jy/beam/beamarea).",
    "Background estimator summed over all source pixels (in Jy/beam).",
    "Noise (rms) estimator summed over all source pixels (in Jy/beam).",
    "Source morphology id (0=UNKNOWN-MORPH,1=COMPACT,2=POINT-LIKE,3=EXTENDED,4=COMPACT-EXTENDED,5=DIFFUSE)",
    "Source sourceness id (1=REAL,2=CANDIDATE,3=FAKE)",
    "Bool flag indicating if source was tagged as good (true) or bad (false) in the finding process",
    "Source nested level (0=mother source,1=nested source,...)",
)

# Header line names: caesar writes e.g. "# x_wcs - ..." although the column is "x_wcs(deg)".
_SHORT = [name.split("(")[0] for name, _ in CAESAR_COLUMNS]
_SHORT[25] = "SErr"
_SHORT[22], _SHORT[23], _SHORT[24] = "Stot", "Smax", "S"
_SHORT[21], _SHORT[27], _SHORT[28] = "nu", "bkgSum", "rmsSum"

#: Header lines of ``catalog-<base>.dat`` up to and including the column-name line (no newlines).
CATALOGUE_HEADER: tuple[str, ...] = (
    "#======== CAESAR RESULTS ======",
    "# This ascii file contains source islands (or blobs) found by CAESAR.",
    "# Source parameters are described in the header below.",
    "# NB: Fitted components, if available, are reported in a different ascii file. ",
    "#     We include here the total fitted flux density summed over all components.",
    "#",
    "# ---- HEADER ----",
    *(f"# {short} - {descr}" for short, descr in zip(_SHORT, _DESCRIPTIONS, strict=True)),
    "# ---------------",
    "#",
    "# " + "".join(f"{name}\t" for name, _ in CAESAR_COLUMNS),
)

_COLOURS = {3: "green", 4: "magenta", 2: "red", 1: "blue", 5: "yellow"}
_REGION_HEADER = (
    "# Region file format: DS9 version 4.1",
    'global color=red font="helvetica 8 normal" edit=1 move=1 delete=1 include=1',
    "image",
)


def catalogue_paths(out_dir: str | Path, base: str) -> dict[str, Path]:
    """caesar file names for an image base name: keys ``catalogue``, ``json``, ``regions`` and the ``*_fitcomp`` ones."""
    out = Path(out_dir)
    return {
        "catalogue": out / f"catalog-{base}.dat",
        "json": out / f"catalog-{base}.json",
        "regions": out / f"ds9-{base}.reg",
        "fitcomp_catalogue": out / f"catalog_fitcomp-{base}.dat",
        "fitcomp_json": out / f"catalog_fitcomp-{base}.json",
        "fitcomp_regions": out / f"ds9_fitcomp-{base}.reg",
    }


def island_rows(table: Table) -> Iterator[Mapping[str, Any]]:
    """Rows in caesar file order: each island, then its nested sources named ``S<k>_N<l>``."""
    for row in table_rows(table):
        yield row
        for k, nested in enumerate(row.get("nested") or (), start=1):
            yield {**nested, "name": f"{row['name']}_N{k}"}


# C++ ostream default precision (6) for columns 1–9, then setprecision(8).
_ROW_FORMAT, _ROW_NAMES = row_format(CAESAR_COLUMNS, 9)


def format_row(row: Mapping[str, Any]) -> str:
    """One catalogue line (no newline): tab separated, 6 significant digits for columns 1–9, 8 after."""
    return _ROW_FORMAT % tuple([row[name] for name in _ROW_NAMES])


def write_island_catalogue(table: Table, path: str | Path) -> Path:
    """Write caesar's island catalogue (header, one row per island, nested rows would follow mothers).

    Parameters
    ----------
    table
        Island table with at least the :data:`~science.extract.sources.CAESAR_COLUMNS`.
    path
        Output file, normally ``catalogue_paths(...)["catalogue"]``.

    Returns
    -------
    Path
    """
    out = Path(path)
    lines = [*CATALOGUE_HEADER, *(format_row(row) for row in island_rows(table))]
    out.write_text("\n".join(lines) + "\n", encoding="ascii")
    return out


def read_island_catalogue(path: str | Path) -> Table:
    """Parse a caesar island catalogue back into a table with the 33 caesar columns.

    Raises
    ------
    InvalidCatalogueError
        If the file is missing, has no column-name line or a row has the wrong number of fields.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidCatalogueError(f"cannot read catalogue {p.name}: {exc}") from exc
    lines = text.splitlines()
    expected = [name for name, _ in CAESAR_COLUMNS]
    names_line = next((ln for ln in lines if ln.startswith("# name\t")), None)
    if names_line is None or names_line[2:].rstrip("\t").split("\t") != expected:
        raise InvalidCatalogueError(f"{p.name} has no caesar column-name line with the 33 island columns")
    rows = [ln.split("\t") for ln in lines if ln and not ln.startswith("#")]
    for number, fields in enumerate(rows, start=1):
        if len(fields) != len(expected):
            raise InvalidCatalogueError(f"{p.name} row {number} has {len(fields)} fields, expected {len(expected)}")
    table = empty_island_table(len(rows))
    table.remove_columns([c for c in table.colnames if c not in expected])
    for i, (name, dtype) in enumerate(CAESAR_COLUMNS):
        values = [r[i] for r in rows]
        try:
            table[name] = np.array(values, dtype=dtype if not dtype.startswith("i") else "f8").astype(dtype)
        except ValueError as exc:
            raise InvalidCatalogueError(f"{p.name} column {name} has an unparsable value: {exc}") from exc
    return table


def _region_line(row: Mapping[str, Any], sky: SkyRegions | None = None) -> str:
    contour = row["contour"]
    if int(row["npix"]) <= 1 or contour is None or len(contour) <= 1:
        return ""
    if sky is None:
        polygon = "polygon " + " ".join(map(str, (np.asarray(contour, np.int64) + 1).ravel().tolist())) + " "
    else:
        polygon = sky.polygon(contour)
    morph = int(row["morphId"])
    colour = _COLOURS.get(morph, "white")
    return (
        f"{polygon}# text={{{row['name']}}} color={colour} "
        f"tag={{{MORPH_LABELS.get(morph, 'UNKNOWN-MORPH')}}} tag={{{SOURCENESS_LABELS.get(int(row['sourcenessId']), 'CANDIDATE')}}} "
    )


def region_header(sky: SkyRegions | None = None) -> list[str]:
    """caesar's three header lines of a DS9 region file: image coordinates, or the sky frame of ``sky``."""
    return [*_REGION_HEADER[:2], "image" if sky is None else sky.frame_line]


def write_regions(table: Table, path: str | Path, sky: SkyRegions | None = None) -> Path:
    """Write the DS9 island region file (image coordinates, polygon = contour pixels + 1; or in the sky, caesar
    ``convertregionstowcs``: :mod:`science.io.sky_regions`)."""
    out = Path(path)
    lines = [*region_header(sky), *(_region_line(row, sky) for row in island_rows(table))]
    out.write_text("\n".join(lines) + "\n", encoding="ascii")
    return out


def _island_json(row: Mapping[str, Any]) -> dict[str, Any]:
    npix, area = int(row["npix"]), float(row["beamArea"])
    morph = MORPH_LABELS.get(int(row["morphId"]), "UNKNOWN-MORPH")
    sourceness = SOURCENESS_LABELS.get(int(row["sourcenessId"]), "CANDIDATE")
    island = {
        "name": str(row["name"]), "iau_name": str(row["iauName"]), "npix": npix,
        "x": float(row["x"]), "y": float(row["y"]), "ra": float(row["x_wcs(deg)"]), "dec": float(row["y_wcs(deg)"]),
        "xmin": int(row["xmin"]), "xmax": int(row["xmax"]), "ymin": int(row["ymin"]), "ymax": int(row["ymax"]),
        "ra_min": float(row["xmin_wcs(deg)"]), "ra_max": float(row["xmax_wcs(deg)"]),
        "dec_min": float(row["ymin_wcs(deg)"]), "dec_max": float(row["ymax_wcs(deg)"]),
        "Stot": float(row["Stot(Jy/beam)"]) / area, "Smax": float(row["Smax(Jy/beam)"]),
        "S": float(row["S(Jy)"]), "S_err": float(row["Serr(Jy)"]),
        "bkg": float(row["bkgSum(Jy/beam)"]) / npix, "rms": float(row["rmsSum(Jy/beam)"]) / npix,
        "morph_label": morph, "sourceness_label": sourceness, "sourceness_score": -1,
        "border": int(bool(row["edge"])), "class_label": "UNKNOWN", "class_score": -1, "tags": [],
        "beam_area_ratio_par": npix / area, "min_size": -999, "max_size": -999,
        "vertices": np.asarray(row["contour"], np.int64).reshape(-1, 2).tolist() if row["contour"] is not None else [],
        "crossmatch_info": [], "fit_info": _fit_info(row.get("components", []) if isinstance(row, dict) else row["components"]),
    }  # fmt: skip
    return {
        "name": island["name"], "iau_name": island["iau_name"], "class_label": "UNKNOWN", "class_score": -1,
        "nislands": 1, "x0": island["x"], "y0": island["y"], "ra": island["ra"], "dec": island["dec"],
        "morph_label": morph, "sourceness_label": sourceness, "sourceness_score": -1, "tags": [],
        "nest_level": int(row["sourceNestedLevel"]), "islands": [island],
    }  # fmt: skip


def _fit_info(components: list[dict[str, Any]]) -> dict[str, Any]:
    if not components:
        return {}
    first = components[0]
    return {
        "ncomponents": len(components), "model": "gaus", "ndata": int(first["ndata"]), "npars": int(first["npars"]),
        "npars_free": int(first["npars"]), "chi2": float(first["chi2"]), "ndf": int(first["ndf"]),
        "fit_quality": FIT_QUALITY_LABELS.get(int(first["fitQuality"]), "UNKNOWN"),
        "flux": float(first["S_island(Jy)"]), "flux_err": float(first["S_island_err(Jy)"]),
        "components": [
            {
                "iau_name": c["iauName"], "x": c["x"], "y": c["y"], "x_err": c["x_err"], "y_err": c["y_err"],
                "ra": c["x_wcs(deg)"], "dec": c["y_wcs(deg)"], "ra_err": c["x_wcs_err(deg)"],
                "dec_err": c["y_wcs_err(deg)"], "Speak": c["Speak(Jy/beam)"], "Speak_err": c["Speak_err(Jy/beam)"],
                "S": c["S(Jy)"], "S_err": c["S_err(Jy)"], "sx": c["sx"], "sy": c["sy"], "theta": c["theta"],
                "sx_err": c["sx_err"], "sy_err": c["sy_err"], "theta_err": c["theta_err"], "bmaj": c["bmaj"],
                "bmin": c["bmin"], "pa": c["pa"], "bmaj_err": c["bmaj_err"], "bmin_err": c["bmin_err"],
                "pa_err": c["pa_err"], "bmaj_deconv": c["bmaj_deconv_wcs(arcsec)"],
                "bmin_deconv": c["bmin_deconv_wcs(arcsec)"], "pa_deconv": c["pa_deconv_wcs(deg)"],
                "morph_label": MORPH_LABELS.get(int(c["morphId"]), "UNKNOWN-MORPH"),
                "sourceness_label": SOURCENESS_LABELS.get(int(c["sourcenessId"]), "CANDIDATE"),
                "sourceness_score": -1, "eccentricity_ratio": c["fitBeamEllipseEccentricityRatio"],
                "area_ratio": c["fitBeamEllipseAreaRatio"], "rot_angle_vs_beam": c["fitBeamEllipseRotAngle"],
                "spectral_info": {}, "crossmatch_info": [],
            }
            for c in components
        ],
    }  # fmt: skip


def write_island_json(
    table: Table, path: str | Path, *, inputdata: Mapping[str, Any] | None = None, version: str = "1"
) -> Path:
    """Write the island JSON (§10.3 subset: no fit, spectral or pixel lists yet), pretty-printed."""
    out = Path(path)
    metadata = {
        "version": version,
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "inputdata": dict(inputdata or {}),
        "tags": [],
        "authors": [],
        "software": [{"name": "cirasa-science", "version": "0.1.0", "authors": []}],
    }
    return write_json_records(out, {"metadata": metadata}, "sources", (_island_json(row) for row in island_rows(table)))


def write_catalogue_products(
    table: Table,
    out_dir: str | Path,
    base: str,
    *,
    inputdata: Mapping[str, Any] | None = None,
    sky: SkyRegions | None = None,
) -> dict[str, Path]:
    """Write caesar's island products (region files in the sky with ``sky``); returns the files actually
    written (no catalogue when no sources)."""
    paths = catalogue_paths(out_dir, base)
    written = {"regions": write_regions(table, paths["regions"], sky)}
    if len(table) == 0:
        logger.info("%s: no sources, writing no catalogue files (as caesar)", base)
        return written
    written["catalogue"] = write_island_catalogue(table, paths["catalogue"])
    written["json"] = write_island_json(table, paths["json"], inputdata=inputdata)
    if any(len(c) for c in table["components"]) or any(
        len(n.get("components", [])) for nested in table["nested"] for n in nested
    ):
        written["fitcomp_catalogue"] = write_component_catalogue(table, paths["fitcomp_catalogue"])
        written["fitcomp_json"] = write_component_json(table, paths["fitcomp_json"])
        written["fitcomp_regions"] = write_component_regions(table, paths["fitcomp_regions"], sky)
    return written
