"""The island table: caesar's 33 catalogue columns plus a few extra ones, sky columns and S1…Sn names."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from astropy.table import Table, vstack
from astropy.wcs import WCS

__all__ = [
    "CAESAR_COLUMNS",
    "EXTRA_COLUMNS",
    "ISLAND_COLUMNS",
    "MORPH_LABELS",
    "SOURCENESS_LABELS",
    "add_sky_columns",
    "assign_names",
    "empty_island_table",
    "iau_name",
    "scan_order",
    "shift_pixels",
    "stack_islands",
]

#: (column, dtype) of caesar's island catalogue, in file order (§10.1).
CAESAR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "U32"),
    ("iauName", "U32"),
    ("npix", "i8"),
    ("nComponents", "i8"),
    ("nNestedSources", "i8"),
    ("x", "f8"),
    ("y", "f8"),
    ("x_w", "f8"),
    ("y_w", "f8"),
    ("x_wcs(deg)", "f8"),
    ("y_wcs(deg)", "f8"),
    ("x_w_wcs(deg)", "f8"),
    ("y_w_wcs(deg)", "f8"),
    ("xmin", "i8"),
    ("xmax", "i8"),
    ("ymin", "i8"),
    ("ymax", "i8"),
    ("xmin_wcs(deg)", "f8"),
    ("xmax_wcs(deg)", "f8"),
    ("ymin_wcs(deg)", "f8"),
    ("ymax_wcs(deg)", "f8"),
    ("nu(GHz)", "f8"),
    ("Stot(Jy/beam)", "f8"),
    ("Smax(Jy/beam)", "f8"),
    ("S(Jy)", "f8"),
    ("Serr(Jy)", "f8"),
    ("beamArea", "f8"),
    ("bkgSum(Jy/beam)", "f8"),
    ("rmsSum(Jy/beam)", "f8"),
    ("morphId", "i8"),
    ("sourcenessId", "i8"),
    ("isGoodSource", "i8"),
    ("sourceNestedLevel", "i8"),
)

#: Extra columns kept in our table but not written to caesar's .dat file.
#: ``flux_jy`` = Stot / beamArea (integrated flux estimate, Jy); ``zmax`` = peak significance;
#: ``edge`` = touches the image border; ``scan_x``/``scan_y`` = first pixel met scanning x outer, y inner;
#: ``contour`` = (n, 2) int32 ordered outer-boundary pixels (x, y); ``components`` = list of fitted-component
#: dicts (:mod:`science.extract.components`, empty without fit); ``nested`` = list of nested-source dicts with
#: the island columns (caesar ``S<k>_N<l>`` rows, written right after their mother).
EXTRA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("flux_jy", "f8"),
    ("zmax", "f8"),
    ("edge", "bool"),
    ("scan_x", "i8"),
    ("scan_y", "i8"),
    ("contour", "O"),
    ("components", "O"),
    ("nested", "O"),
)

ISLAND_COLUMNS: tuple[tuple[str, str], ...] = CAESAR_COLUMNS + EXTRA_COLUMNS

MORPH_LABELS = {0: "UNKNOWN-MORPH", 1: "COMPACT", 2: "POINT-LIKE", 3: "EXTENDED", 4: "COMPACT-EXTENDED", 5: "DIFFUSE"}
SOURCENESS_LABELS = {1: "REAL", 2: "CANDIDATE", 3: "FALSE"}


def empty_island_table(n: int = 0) -> Table:
    """Island table with every column (see :data:`ISLAND_COLUMNS`) and ``n`` zero rows."""
    cols = {}
    for name, dtype in ISLAND_COLUMNS:
        if name == "contour":
            cols[name] = np.array([np.empty((0, 2), np.int32) for _ in range(n)] + [None], dtype=object)[:n]
        elif dtype == "O":
            empty = np.empty(n, dtype=object)
            for i in range(n):
                empty[i] = []
            cols[name] = empty
        else:
            cols[name] = np.zeros(n, dtype=dtype)
    return Table(cols)


def iau_name(ra_deg: float, dec_deg: float) -> str:
    """IAU-style J2000 name ``Jhhmmss.s±ddmmss`` (truncated, not rounded)."""
    if not (math.isfinite(ra_deg) and math.isfinite(dec_deg)):
        return "J000000.0+000000"
    ra_s = math.floor((ra_deg % 360.0) / 15.0 * 3600.0 * 10.0 + 1e-6) / 10.0
    h, rem = divmod(ra_s, 3600.0)
    m, s = divmod(rem, 60.0)
    sign = "-" if dec_deg < 0 else "+"
    dec_s = math.floor(abs(dec_deg) * 3600.0 + 1e-6)
    d, rem2 = divmod(dec_s, 3600)
    dm, ds = divmod(rem2, 60)
    return f"J{int(h):02d}{int(m):02d}{s:04.1f}{sign}{int(d):02d}{int(dm):02d}{int(ds):02d}"


def _world(
    wcs: WCS, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    if x.size == 0:
        return np.empty(0), np.empty(0)
    lon, lat = wcs.wcs_pix2world(x, y, 0)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def add_sky_columns(table: Table, wcs: WCS, *, beam_area_pixels: float, frequency_hz: float | None) -> None:
    """Fill the WCS, IAU-name, frequency, beam-area and flux columns in place from the pixel columns."""
    x, y = np.asarray(table["x"], float), np.asarray(table["y"], float)
    table["x_wcs(deg)"], table["y_wcs(deg)"] = _world(wcs, x, y)
    table["x_w_wcs(deg)"], table["y_w_wcs(deg)"] = _world(
        wcs, np.asarray(table["x_w"], float), np.asarray(table["y_w"], float)
    )
    table["xmin_wcs(deg)"], table["ymin_wcs(deg)"] = _world(
        wcs, np.asarray(table["xmin"], float), np.asarray(table["ymin"], float)
    )
    table["xmax_wcs(deg)"], table["ymax_wcs(deg)"] = _world(
        wcs, np.asarray(table["xmax"], float), np.asarray(table["ymax"], float)
    )
    table["iauName"] = [
        iau_name(float(a), float(d)) for a, d in zip(table["x_wcs(deg)"], table["y_wcs(deg)"], strict=True)
    ]
    table["nu(GHz)"] = frequency_hz / 1e9 if frequency_hz is not None else -999.0
    table["beamArea"] = beam_area_pixels
    table["flux_jy"] = np.asarray(table["Stot(Jy/beam)"], float) / beam_area_pixels


def scan_order(table: Table) -> npt.NDArray[np.intp]:
    """Row order of caesar's scan (first island pixel met scanning x outer, y inner)."""
    order: npt.NDArray[np.intp] = np.lexsort((np.asarray(table["scan_y"]), np.asarray(table["scan_x"])))
    return order


def assign_names(table: Table) -> Table:
    """Sort in caesar scan order (first island pixel met scanning x outer, y inner) and name ``S1…Sn``;
    unmerged extended sources (named ``Sext…``) follow, renamed ``Sext1…Sextm`` in scan order."""
    if len(table) == 0:
        return table
    out = table[scan_order(table)]
    ext = np.char.startswith(np.asarray(out["name"], dtype=str), "Sext")
    out = out[np.concatenate([np.flatnonzero(~ext), np.flatnonzero(ext)])]
    n = int((~ext).sum())
    out["name"] = [f"S{k + 1}" if k < n else f"Sext{k - n + 1}" for k in range(len(out))]
    return out


def stack_islands(tables: Sequence[Table]) -> Table:
    """Concatenate island tables (empty ones included) keeping every column and dtype."""
    non_empty = [t for t in tables if len(t)]
    if not non_empty:
        return empty_island_table()
    stacked = vstack(non_empty, join_type="exact", metadata_conflicts="silent")
    return stacked


#: Island (and nested-source) columns holding x or y pixel positions.
_X_KEYS, _Y_KEYS = ("x", "x_w", "xmin", "xmax", "scan_x"), ("y", "y_w", "ymin", "ymax", "scan_y")


def shift_pixels(table: Table, dy: int, dx: int) -> None:
    """Move every pixel position of an island table by ``(dy, dx)`` in place: islands, contours, components
    and nested sources (with their pixels); sky positions are left as they are. For a sub-image extracted as
    an image of its own, whose positions caesar gives in the whole image's pixels."""
    if (dy, dx) == (0, 0) or len(table) == 0:
        return
    for key in _X_KEYS:
        table[key] += dx
    for key in _Y_KEYS:
        table[key] += dy
    offset = np.array([dx, dy], np.int32)
    for row in range(len(table)):
        if table["contour"][row] is not None:
            table["contour"][row] = np.asarray(table["contour"][row]) + offset
        for comp in table["components"][row]:
            comp["x"], comp["y"] = comp["x"] + dx, comp["y"] + dy
        for nested in table["nested"][row]:
            for key in _X_KEYS:
                nested[key] += dx
            for key in _Y_KEYS:
                nested[key] += dy
            if nested.get("contour") is not None:
                nested["contour"] = np.asarray(nested["contour"]) + offset
            if "pixel_xy" in nested:
                nested["pixel_xy"] = np.asarray(nested["pixel_xy"]) + offset
            for comp in nested.get("components", []):
                comp["x"], comp["y"] = comp["x"] + dx, comp["y"] + dy
