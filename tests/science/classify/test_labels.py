"""Truth classes of islands, Radio Galaxy Zoo-like labels and source grouping, on hand-built tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.table import Table

from science.classify.labels import IslandTruth, group_sources, rgz_label
from science.errors import ParameterError
from science.extract.contour import trace_boundary
from science.extract.sources import empty_island_table

FWHM = 4.0
AREA = math.pi * FWHM**2 / (4.0 * math.log(2.0))


def square_islands(corners: list[tuple[int, int]], side: int = 5) -> Table:
    """Square islands of ``side`` pixels with their lower-left corners at ``corners``."""
    table = empty_island_table(len(corners))
    table["name"] = [f"S{k + 1}" for k in range(len(corners))]
    table["beamArea"] = AREA
    mask = np.ones((side, side), bool)
    for k, (x0, y0) in enumerate(corners):
        table["xmin"][k], table["xmax"][k], table["ymin"][k], table["ymax"][k] = x0, x0 + side - 1, y0, y0 + side - 1
        table["x_w"][k], table["y_w"][k] = x0 + side // 2, y0 + side // 2
        table["contour"][k] = trace_boundary(mask) + np.array([x0, y0], np.int32)
    return table


def truth_table(rows: list[tuple[float, float, float, float, str]]) -> Table:
    kinds = {"point": "compact", "double": "compact", "resolved": "extended", "diffuse": "extended"}
    return Table(
        rows=[(*r, kinds.get(r[4], "spurious")) for r in rows], names=("x", "y", "peak_jy", "flux_jy", "kind", "class")
    )


def test_rgz_labels() -> None:
    assert [rgz_label(1, 1), rgz_label(1, 2), rgz_label(2, 3)] == ["1C_1P", "1C_2P", "2C_3P"]
    with pytest.raises(ParameterError, match="1 ≤ n_components ≤ n_peaks"):
        rgz_label(2, 1)


def test_islands_take_the_class_of_their_brightest_real_truth_source() -> None:
    table = square_islands([(10, 10), (30, 30), (50, 50), (70, 10), (90, 10)])
    truth = truth_table(
        [
            (12.0, 12.0, 1.0, 1.0, "point"),
            (11.0, 13.4, 0.5, 0.5, "double"),  # a second peak on S1
            (14.4, 14.4, 2.0, 2.0, "sidelobe"),  # brighter, but not real
            (32.0, 31.0, 1.0, 3.0, "sidelobe"),  # S2: only an artefact
            (66.0, 8.0, 1e-4, 1e-2, "diffuse"),  # centre off S4, but its core (20 px HWHM) holds S4's centroid
            (95.0, 12.0, 1.0, 1.0, "point"),  # just outside S5 (x 90..94)
        ]
    )
    labelled = IslandTruth(table, truth)
    assert labelled.classes == ["compact", "spurious", "spurious", "extended", "spurious"]
    assert [labelled.n_peaks(i) for i in range(5)] == [2, 0, 0, 1, 0]
    assert labelled.rows[0] == [0, 1, 2]


def test_groups_join_islands_whose_components_are_close() -> None:
    table = empty_island_table(4)
    table["name"] = ["S1", "S2", "S3", "S4"]
    table["beamArea"] = AREA
    table["x_w"], table["y_w"] = [10.0, 20.0, 12.0, 100.0], [10.0, 10.0, 10.0, 100.0]
    table["nComponents"] = [1, 2, 1, 0]
    table["components"][1] = [
        {"componentId": 1, "x": 18.0, "y": 10.0},
        {"componentId": 2, "x": 22.0, "y": 10.0},
    ]
    groups, labels = group_sources(table, ["compact", "extended", "spurious", "compact"])
    assert labels == ["2C_3P", "2C_3P", "", "1C_1P"]
    assert groups[0] == groups[1] != groups[3] and groups[2] == -1
    tight, _ = group_sources(table, ["compact", "extended", "spurious", "compact"], group_radius_beams=1.0)
    assert tight[0] != tight[1]
