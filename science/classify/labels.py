"""Class names, truth labels of extracted islands, and Radio Galaxy Zoo-like ``<n>C_<m>P`` labels.

Classes (caesar-rest's Mask R-CNN app uses the same three): ``compact`` (one or a few beam-sized
sources), ``extended`` (resolved or diffuse emission) and ``spurious`` (sidelobes, artefacts near bright
sources, noise).

Truth of an island (from a :func:`science.simulate.simulate_image` truth table): the real truth rows
associated with it are those whose position falls on one of its pixels, plus extended rows whose core
(half width at half maximum) holds the island's flux-weighted centroid; the island takes the class of
the brightest of them. Without a real row it is ``spurious`` (a sidelobe, or a noise peak).

``<n>C_<m>P`` (caesar-rest's ``smorph-rgz`` CNN): ``n`` islands (components in RGZ's sense) and ``m``
peaks of one source. Here islands not classified spurious are grouped when fitted components (or
centroids) of two islands lie within ``group_radius_beams`` beam FWHMs; ``m`` sums the fitted
components (at least 1 per island).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from science.classify.errors import MissingColumnsError
from science.classify.features import component_groups
from science.errors import ParameterError
from science.image import FWHM_TO_SIGMA

__all__ = ["CLASSES", "RGZ_LABELS", "IslandTruth", "group_sources", "rgz_label", "truth_classes"]

CLASSES: tuple[str, ...] = ("compact", "extended", "spurious")

#: The six classes of caesar-rest's ``smorph-rgz`` model (ours may also say e.g. ``1C_4P``).
RGZ_LABELS: tuple[str, ...] = ("1C_1P", "1C_2P", "1C_3P", "2C_2P", "2C_3P", "3C_3P")

_EXTENDED_KINDS = frozenset({"resolved", "diffuse"})


def rgz_label(n_components: int, n_peaks: int) -> str:
    """``"<n>C_<m>P"``.

    Raises
    ------
    ParameterError
        If ``n_components < 1`` or ``n_peaks < n_components``.
    """
    if n_components < 1 or n_peaks < n_components:
        raise ParameterError(f"need 1 ≤ n_components ≤ n_peaks, got {n_components}C, {n_peaks}P")
    return f"{n_components}C_{n_peaks}P"


def _inside(contour: npt.NDArray[np.int32], px: int, py: int) -> bool:
    """True if pixel (px, py) is on the traced boundary or inside it (even-odd rule, holes filled)."""
    if len(contour) == 0:
        return False
    cx, cy = contour[:, 0].astype(np.float64), contour[:, 1].astype(np.float64)
    if np.any((contour[:, 0] == px) & (contour[:, 1] == py)):
        return True
    nx, ny = np.roll(cx, -1), np.roll(cy, -1)
    crosses = (cy > py) != (ny > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = cx + (py - cy) * (nx - cx) / (ny - cy)
    return bool(np.count_nonzero(crosses & (px < x_at)) % 2)


class IslandTruth:
    """Truth association of the islands of one image: class, true peak count, truth rows per island.

    Parameters
    ----------
    table
        In-memory island table with ``contour``, ``x_w``, ``y_w``, ``xmin``…``ymax`` and ``beamArea``.
    truth
        Truth table of :func:`~science.simulate.simulate_image` (``x``, ``y``, ``peak_jy``, ``flux_jy``,
        ``kind``, ``class``).

    Raises
    ------
    MissingColumnsError
        If a needed column is missing from either table.
    """

    def __init__(self, table: Table, truth: Table) -> None:
        for tab, cols, what in (
            (table, ("contour", "x_w", "y_w", "xmin", "xmax", "ymin", "ymax", "beamArea"), "island table"),
            (truth, ("x", "y", "peak_jy", "flux_jy", "kind", "class"), "truth table"),
        ):
            missing = [c for c in cols if c not in tab.colnames]
            if missing:
                raise MissingColumnsError(f"the {what} lacks column(s) {', '.join(missing)}", missing=missing)
        self.rows: list[list[int]] = [[] for _ in range(len(table))]
        if len(table) == 0:
            self.classes: list[str] = []
            return
        fwhm = math.sqrt(4.0 * math.log(2.0) * float(table["beamArea"][0]) / math.pi)
        tx, ty = np.asarray(truth["x"], float), np.asarray(truth["y"], float)
        peak = np.asarray(truth["peak_jy"], float)
        kind = [str(k) for k in truth["kind"]]
        sigma_b = fwhm * FWHM_TO_SIGMA
        hwhm = sigma_b * np.sqrt(np.clip(np.asarray(truth["flux_jy"], float) / np.where(peak != 0, peak, 1), 1, None))
        hwhm = hwhm / FWHM_TO_SIGMA / 2.0
        for i, row in enumerate(table):
            for t in np.flatnonzero(
                (tx >= row["xmin"] - 0.5)
                & (tx <= row["xmax"] + 0.5)
                & (ty >= row["ymin"] - 0.5)
                & (ty <= row["ymax"] + 0.5)
            ):
                if peak[t] > 0 and _inside(np.asarray(row["contour"]), round(tx[t]), round(ty[t])):
                    self.rows[i].append(int(t))
            xw, yw = float(row["x_w"]), float(row["y_w"])
            for t in np.flatnonzero(np.hypot(tx - xw, ty - yw) <= hwhm):
                if kind[t] in _EXTENDED_KINDS and int(t) not in self.rows[i]:
                    self.rows[i].append(int(t))
        classes = [str(c) for c in truth["class"]]
        self.classes = []
        for rows in self.rows:
            real = [t for t in rows if classes[t] != "spurious"]
            self.classes.append(classes[max(real, key=lambda t: peak[t])] if real else "spurious")
        self._kind = kind
        self._classes = classes

    def n_peaks(self, i: int) -> int:
        """Real truth sources on island ``i`` (0 for a spurious island)."""
        return sum(1 for t in self.rows[i] if self._classes[t] != "spurious")


def truth_classes(table: Table, truth: Table) -> list[str]:
    """Truth class of every island (see the module docstring)."""
    return IslandTruth(table, truth).classes


def group_sources(
    table: Table,
    classes: Sequence[str],
    *,
    components: Table | None = None,
    group_radius_beams: float = 3.0,
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Group non-spurious islands into sources; returns the group id per row (−1 for spurious) and its label.

    Raises
    ------
    MissingColumnsError
        If the table lacks ``name``, ``x_w``, ``y_w``, ``beamArea`` or ``nComponents``.
    ParameterError
        If ``classes`` does not have one entry per row or ``group_radius_beams`` is not positive.
    """
    needed = ("name", "x_w", "y_w", "beamArea", "nComponents")
    missing = [c for c in needed if c not in table.colnames]
    if missing:
        raise MissingColumnsError(f"the island catalogue lacks column(s) {', '.join(missing)}", missing=missing)
    if len(classes) != len(table) or not group_radius_beams > 0:
        raise ParameterError("need one class per row and group_radius_beams > 0")
    groups = np.full(len(table), -1, np.int64)
    labels = [""] * len(table)
    real = [i for i, c in enumerate(classes) if c != "spurious"]
    if not real:
        return groups, labels
    comps = component_groups(table, components)
    points, owner = [], []
    for i in real:
        name = str(table["name"][i])
        xy = [(float(c["x"]), float(c["y"])) for c in comps.get(name, [])] or [
            (float(table["x_w"][i]), float(table["y_w"][i]))
        ]
        points += xy
        owner += [i] * len(xy)
    fwhm = math.sqrt(4.0 * math.log(2.0) * float(table["beamArea"][real[0]]) / math.pi)
    pairs = cKDTree(np.asarray(points)).query_pairs(group_radius_beams * fwhm, output_type="ndarray")
    index = {i: k for k, i in enumerate(real)}
    adjacency = np.zeros((len(real), len(real)), bool)
    for a, b in pairs:
        adjacency[index[owner[a]], index[owner[b]]] = True
    _, comp_of = connected_components(adjacency, directed=False)
    peaks = {i: max(int(table["nComponents"][i]), 1) for i in real}
    for g in np.unique(comp_of):
        members = [real[k] for k in np.flatnonzero(comp_of == g)]
        label = rgz_label(len(members), sum(peaks[i] for i in members))
        for i in members:
            groups[i], labels[i] = int(g), label
    return groups, labels
