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


@pytest.mark.parametrize(("axis_ratio", "fake"), [(1.2, False), (1.4, True)])
def test_a_faint_neighbour_is_beam_shaped_below_an_axis_ratio_of_1_3(axis_ratio: float, fake: bool) -> None:
    # a sidelobe measured at S/N 6-8 fits with axis ratios of 1.3-1.5 as often as above (noise rounds it)
    table = _table([(1.0, [_component(100, 100, 1.0)]), (0.03, [_component(120, 100, 0.03, axis_ratio=axis_ratio)])])
    assert _flag(table) == int(fake)
    assert bool(table["sourcenessId"][1] == FAKE) == fake


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


def test_components_of_nested_sources_are_detections_too() -> None:
    # An island too big to fit as a whole: its nested sources carry the components (a bright source and a
    # sidelobe of it). The sidelobe's nested source becomes FAKE, the island and the bright one do not.
    table = _table([(1.0, [])])
    table["nested"][0] = [
        {"components": [_component(100, 100, 1.0)], "sourcenessId": 2},
        {"components": [_component(120, 100, 0.03, axis_ratio=3.0)], "sourcenessId": 2},
    ]
    assert _flag(table) == 1
    assert [n["sourcenessId"] for n in table["nested"][0]] == [2, FAKE]
    assert table["nested"][0][1]["components"][0]["sourcenessId"] == FAKE
    assert table["sourcenessId"][0] == 1
    # with every nested detection an artefact (next to a bright island elsewhere) the island is FAKE as well
    table = _table([(1.0, [_component(100, 100, 1.0)]), (0.03, [])])
    table["nested"][1] = [{"components": [_component(120, 100, 0.03, axis_ratio=3.0)], "sourcenessId": 2}]
    assert _flag(table) == 1
    assert table["sourcenessId"][1] == FAKE


@pytest.mark.parametrize(("radius", "ratio"), [(0.0, 0.06), (10.0, 0.0), (10.0, 1.0)])
def test_bad_parameters_are_refused(radius: float, ratio: float) -> None:
    with pytest.raises(ParameterError):
        flag_artefacts(_table([]), beam_fwhm_pixels=BEAM, radius_beams=radius, peak_ratio=ratio)


def _gaussian_image(shape: tuple[int, int], blobs: list[tuple[float, float, float, float, float]]) -> Any:
    """Sum of elliptical Gaussians ``(x, y, amplitude, sigma_x, sigma_y)`` on a 0.001 background."""
    import numpy as np

    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    image = np.full(shape, 0.001)
    for x, y, amp, sx, sy in blobs:
        image += amp * np.exp(-0.5 * (((xx - x) / sx) ** 2 + ((yy - y) / sy) ** 2))
    return image.astype(np.float32), np.full(shape, 0.001, np.float32)


def test_round_image_peak_keeps_a_real_source_whose_fit_is_spoiled_by_a_blend() -> None:
    sigma = BEAM / 2.3548
    data, level = _gaussian_image(
        (200, 200),
        [(100, 100, 1.0, sigma, sigma), (100, 75, 0.03, sigma, sigma), (100, 125, 0.03, 3 * sigma, sigma)],
    )

    def table() -> Any:
        # both faint fits came out elongated (as a blend with a sidelobe makes them)
        return _table(
            [
                (1.0, [_component(100, 100, 1.0)]),
                (0.03, [_component(100, 75, 0.03, axis_ratio=2.5)]),  # round in the image: a real source
                (0.03, [_component(100, 125, 0.03, axis_ratio=2.5)]),  # elongated in the image: a sidelobe
            ]
        )

    fit_only = table()
    assert _flag(fit_only) == 2
    with_image = table()
    flagged = flag_artefacts(with_image, beam_fwhm_pixels=BEAM, radius_beams=10.0, peak_ratio=0.06, image=(data, level))
    assert flagged == 1
    assert list(with_image["sourcenessId"]) == [1, 1, FAKE]
    # a tile of the same image placed at its origin gives the same answer
    tile = table()
    flag_artefacts(
        tile, beam_fwhm_pixels=BEAM, radius_beams=10.0, peak_ratio=0.06, image=(data[50:, 40:], level[50:, 40:]),
        origin=(50, 40),
    )  # fmt: skip
    assert list(tile["sourcenessId"]) == [1, 1, FAKE]


def test_peak_axis_ratios_read_the_shape_of_the_image_peak() -> None:
    import numpy as np

    from science.extract.artefacts import peak_axis_ratios

    data, level = _gaussian_image(
        (80, 80), [(20, 20, 1.0, 1.7, 1.7), (50, 50, 1.0, 2.0 * 1.7, 1.7), (60, 20, 1.0, 1.7, 1.7)]
    )
    data[18:23, 58:63] = np.nan
    ratios = peak_axis_ratios(data, level, np.array([[20.4, 19.6], [50.0, 51.0], [60.0, 20.0], [1.0, 1.0]]), 2)
    assert ratios[0] == pytest.approx(1.0, abs=0.02)
    assert ratios[1] == pytest.approx(2.0, rel=0.15)
    assert np.isinf(ratios[2]) and np.isinf(ratios[3])  # blanks, edge
