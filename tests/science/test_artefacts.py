"""Sidelobe-artefact rejection on hand-built island tables (positions in px, beam FWHM 4 px)."""

from __future__ import annotations

from typing import Any

import pytest

from science.errors import ParameterError
from science.extract.artefacts import FAKE, flag_artefacts
from science.extract.sources import empty_island_table

BEAM = 4.0


def _component(x: float, y: float, peak: float, *, axis_ratio: float = 1.0, bmaj: float = BEAM) -> dict[str, Any]:
    return {
        "x": x,
        "y": y,
        "Speak(Jy/beam)": peak,
        "bmaj": bmaj,
        "bmin": bmaj / axis_ratio,
        "free_axis_ratio": axis_ratio,
        "sourcenessId": 1,
    }


def _table(islands: list[tuple[float, list[dict[str, Any]]]]) -> Any:
    """One row per island: (highest pixel above the background, components)."""
    table = empty_island_table(len(islands))
    for row, (top, comps) in enumerate(islands):
        table["npix"][row] = 20
        table["bkgSum(Jy/beam)"][row] = 20 * 0.001  # mean background 0.001
        table["Smax(Jy/beam)"][row] = top + 0.001
        table["sourcenessId"][row] = 1
        table["components"][row] = comps
        table["nComponents"][row] = len(comps)
    return table


def _flag(table: Any) -> int:
    return flag_artefacts(table, beam_fwhm_pixels=BEAM, radius_beams=10.0, peak_ratio=0.06)


def test_elongated_faint_detection_next_to_a_bright_source_is_fake_and_a_point_source_is_not() -> None:
    table = _table(
        [
            (1.0, [_component(100, 100, 1.0)]),
            (0.03, [_component(120, 100, 0.03, axis_ratio=3.0)]),  # sidelobe-like: elongated, 3 %
            (0.03, [_component(80, 100, 0.03, axis_ratio=1.1)]),  # genuine point source, 3 %
            (0.03, [_component(300, 100, 0.03, axis_ratio=3.0)]),  # elongated but far from anything bright
            (0.2, [_component(100, 120, 0.2, axis_ratio=3.0)]),  # elongated but only 5x fainter
        ]
    )
    assert _flag(table) == 1
    assert list(table["sourcenessId"]) == [1, FAKE, 1, 1, 1]
    assert table["components"][1][0]["sourcenessId"] == FAKE
    assert table["components"][2][0]["sourcenessId"] == 1


def test_a_fitted_peak_above_the_island_pixels_does_not_hide_an_artefact() -> None:
    # A point-source fit of two crossing sidelobes overshoots: fitted peak 8 % of the bright source, while no
    # pixel of the island is above 5 %. The island's pixels bound the brightness used in the ratio test.
    table = _table([(1.0, [_component(100, 100, 1.0)]), (0.05, [_component(120, 100, 0.08, axis_ratio=2.5)])])
    assert _flag(table) == 1
    assert table["sourcenessId"][1] == FAKE


def test_an_island_is_fake_only_when_all_its_components_are() -> None:
    table = _table(
        [
            (1.0, [_component(100, 100, 1.0)]),
            (0.04, [_component(120, 100, 0.04, axis_ratio=3.0), _component(124, 100, 0.04, axis_ratio=1.0)]),
        ]
    )
    assert _flag(table) == 1
    assert [c["sourcenessId"] for c in table["components"][1]] == [FAKE, 1]
    assert table["sourcenessId"][1] == 1


def test_unfitted_faint_island_near_a_bright_one_is_fake() -> None:
    table = _table([(1.0, [_component(100, 100, 1.0)]), (0.02, [])])
    table["x_w"][1], table["y_w"][1] = 110.0, 100.0
    assert _flag(table) == 1
    assert table["sourcenessId"][1] == FAKE


@pytest.mark.parametrize(("radius", "ratio"), [(0.0, 0.06), (10.0, 0.0), (10.0, 1.0)])
def test_bad_parameters_are_refused(radius: float, ratio: float) -> None:
    with pytest.raises(ParameterError):
        flag_artefacts(_table([]), beam_fwhm_pixels=BEAM, radius_beams=radius, peak_ratio=ratio)
