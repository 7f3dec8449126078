"""Extended sources (caesar SALIENCY-THRESH) and the compact + extended merge: known answers on small images.

Saliency is relative to an image's dynamic range, so the test fields hold ten bright compact sources
around the border as a real radio image does; the diffuse blob is 12 beams wide and peaks at 3σ (below
the 5σ seed threshold everywhere), searched with a 40-beam background box (the default 20-beam box, 80 px,
absorbs about half of such a blob into the background).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from astropy.table import Table
from scipy import ndimage

from science.errors import ParameterError
from science.extract.background import BackgroundMaps
from science.extract.extended import ExtendedFinder, ExtendedStage, assign_morphology
from science.extract.extractor import ExtractionParams, SourceExtractor
from science.extract.islands import FOUR_CONNECTIVITY
from science.extract.saliency import block_edges, region_saliency
from science.extract.smoothing import bin_image, box_mean, gaussian_smooth, guided_filter
from science.extract.sources import assign_names, empty_island_table
from science.extract.thresholds import optimal_threshold, weighted_median
from science.image import Image
from science.io.catalogue import read_island_catalogue, write_catalogue_products
from science.simulate import simulate_image

RMS = 1e-4
SHAPE = (512, 512)
#: (x, y, peak / RMS) of the bright compact sources of every field, far from the blob.
POINTS = [(60, 70, 150), (450, 90, 80), (80, 440, 200), (430, 430, 120), (256, 40, 60), (40, 256, 90),
          (470, 260, 100), (250, 480, 70), (150, 380, 40), (380, 150, 50)]  # fmt: skip
#: x, y, FWHM (px), peak / RMS of the diffuse blob.
BLOB = (256.0, 250.0, 48.0, 3.0)
#: A compact source on the blob: x, y, peak / RMS.
ON_BLOB = (266.0, 244.0, 60.0)
DIFFUSE = {"bkgbox": 40}


def _gauss(x0: float, y0: float, fwhm: float, peak: float) -> npt.NDArray[np.float32]:
    yy, xx = np.indices(SHAPE)
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return (peak * RMS * np.exp(-0.5 * ((xx - x0) ** 2 + (yy - y0) ** 2) / sigma**2)).astype(np.float32)


def _field(seed: int, *, blob: bool = False, point: bool = False, points: bool = True) -> Image:
    """Correlated noise (4 px beam), the bright compact sources, optionally the blob and a source on it."""
    image, _ = simulate_image(shape=SHAPE, n_sources=0, seed=seed)
    for x, y, peak in POINTS if points else []:
        image.data[...] += _gauss(x, y, 4.0, peak)
    if blob:
        image.data[...] += _gauss(*BLOB)
    if point:
        image.data[...] += _gauss(ON_BLOB[0], ON_BLOB[1], 4.0, ON_BLOB[2])
    return image


def _extract(image: Image, **options: Any) -> Table:
    return SourceExtractor(ExtractionParams.parse({**DIFFUSE, **options})).extract(image)


def _near(table: Table, x: float, y: float, radius: float) -> Table:
    return table[np.hypot(np.asarray(table["x_w"]) - x, np.asarray(table["y_w"]) - y) < radius]


# --------------------------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_faint_diffuse_blob_is_one_extended_source_at_its_place(seed: int) -> None:
    table = _extract(_field(seed, blob=True))
    assert len(table) == len(POINTS) + 1  # no compact island on the blob: it is below the seed threshold
    assert list(table["name"]) == [f"S{k + 1}" for k in range(len(table))]
    extended = table[table["morphId"] != 1]
    assert len(extended) == 1
    row = extended[0]
    assert row["morphId"] == 3 and row["nNestedSources"] == 0
    x0, y0, fwhm, _ = BLOB
    assert math.hypot(row["x_w"] - x0, row["y_w"] - y0) < 0.3 * fwhm
    assert row["xmin"] < x0 < row["xmax"] and row["ymin"] < y0 < row["ymax"]
    # about the region where the blob exceeds ~10 % of its peak: 3.3 × the FWHM disc
    assert 1.5 < row["npix"] / (math.pi / 4 * fwhm**2) < 8.0
    assert row["Stot(Jy/beam)"] > 0.5 * 2 * math.pi * (fwhm / 2.3548) ** 2 * BLOB[3] * RMS


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pure_noise_gives_no_extended_source(seed: int) -> None:
    image = _field(seed, points=False)
    assert not any(str(n).startswith("Sext") for n in _extract(image, mergesources=False)["name"])
    assert set(_extract(image)["morphId"]) <= {1}
    # caesar keeps every saliency blob: without the S/N check noise yields "extended sources"
    assert any(str(n).startswith("Sext") for n in _extract(image, mergesources=False, extended_minsnr=0)["name"])


def test_the_halos_of_bright_compact_sources_are_not_extended_sources() -> None:
    table = _extract(_field(4), mergesources=False)
    assert len(table) == len(POINTS) and set(table["morphId"]) == {1}


@pytest.mark.parametrize("seed", [0, 1])
def test_a_compact_source_on_a_diffuse_blob_becomes_compact_extended(seed: int) -> None:
    table = _extract(_field(seed, blob=True, point=True))
    assert len(table) == len(POINTS) + 1  # the compact island of the source was absorbed
    mother = table[table["morphId"] != 1]
    assert list(mother["morphId"]) == [4]
    nested = mother["nested"][0]
    assert [n["morphId"] for n in nested] == [1]
    assert math.hypot(nested[0]["x"] - ON_BLOB[0], nested[0]["y"] - ON_BLOB[1]) < 1.5
    assert not len(_near(table[table["morphId"] == 1], ON_BLOB[0], ON_BLOB[1], 10.0))


def test_no_extendedsearch_removes_the_extended_sources() -> None:
    image = _field(0, blob=True, point=True)
    table = _extract(image, **{"no-extendedsearch": True})
    assert len(table) == len(POINTS) + 1 and set(table["morphId"]) == {1}
    assert len(_near(table, ON_BLOB[0], ON_BLOB[1], 5.0)) == 1
    assert not any(str(n).startswith("Sext") for n in table["name"])
    assert set(_extract(_field(0, blob=True), **{"no-extendedsearch": True})["morphId"]) == {1}


def test_no_mergesources_keeps_extended_sources_apart_named_sext() -> None:
    table = _extract(_field(0, blob=True, point=True), **{"no-mergesources": None})
    names = list(table["name"])
    assert names == [f"S{k + 1}" for k in range(len(POINTS) + 1)] + ["Sext1"]
    ext = table[-1]
    assert ext["morphId"] == 3 and ext["xmin"] < ON_BLOB[0] < ext["xmax"]
    compact = _near(table[:-1], ON_BLOB[0], ON_BLOB[1], 5.0)
    assert len(compact) == 1 and compact["morphId"][0] == 1


def test_merging_alone_marks_big_compact_islands_extended() -> None:
    image = _field(0)
    image.data[...] += _gauss(256.0, 250.0, 16.0, 100.0)  # a bright resolved source: ~55-beam island
    merged = _extract(image, extendedsearch=False)
    big = merged[merged["npix"] / merged["beamArea"] > 20]
    assert len(big) == 1 and big["morphId"][0] == 3
    assert list(_extract(image, extendedsearch=False, mergesources=False)["morphId"]) == [1] * len(merged)


# --------------------------------------------------------------------------------------------- merge rules
@dataclass(frozen=True)
class _FixedMask(ExtendedFinder):
    """An extended search whose saliency mask is given."""

    fixed: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros((1, 1), bool), compare=False)

    def mask(self, data: npt.NDArray[np.float32], maps: BackgroundMaps) -> npt.NDArray[np.bool_]:
        return self.fixed.copy()


def test_merge_joins_overlapping_and_4_adjacent_islands_only() -> None:
    image = _field(5, points=False)
    for x, y in ((100, 100), (130, 100), (300, 300), (400, 100)):
        image.data[...] += _gauss(x, y, 4.0, 50.0)
    params = ExtractionParams(extendedsearch=False, mergesources=False, nestedsearch=False)
    beam_px, area = image.beam.size_pixels(image.pixscale_arcsec), image.beam.area_pixels(image.pixscale_arcsec)
    maps = params.background_estimator().estimate(image.data, beam_px)
    geometry = {"wcs": image.wcs, "beam_area_pixels": area, "frequency_hz": image.frequency_hz}
    table, pixels = params.island_finder().find_islands(image.data, maps, **geometry)
    assert len(table) == 4
    compact = np.zeros(SHAPE, bool)
    for p in pixels:
        compact[p.y.astype(int), p.x.astype(int)] = True
    scan = {round(float(r["x"]), -1): (int(r["xmin"]), int(r["scan_y"])) for r in table}
    mask = np.zeros(SHAPE, bool)
    mask[80:121, 60:101] = True  # overlaps the (100, 100) island
    xmin, y = scan[130.0]
    mask[y, 100:xmin] = True  # a strip ending 4-adjacent to the (130, 100) island
    mask[250:280, 250:280] = True  # alone
    xmin, y = scan[300.0]
    mask[y - 1, xmin - 6 : xmin] = True  # a strip ending diagonally next to the (300, 300) island
    stage = ExtendedStage(finder=_FixedMask(min_snr=0.0, fixed=mask), merge=True, max_nbeams=20.0)
    out, out_pixels = stage.run(table, pixels, data=image.data, maps=maps, beam_pixels=beam_px, **geometry)
    labels, n = ndimage.label(compact | mask, structure=FOUR_CONNECTIVITY)
    expected = sorted(int((labels == k).sum()) for k in range(1, n + 1))
    assert n == 5 and sorted(int(v) for v in out["npix"]) == expected
    assert [len(p.x) for p in out_pixels] == list(out["npix"])
    assert list(out["name"]) == [f"S{k + 1}" for k in range(5)]
    joined = out[out["npix"] == max(expected)]
    assert joined["xmin"][0] == 60 and joined["xmax"][0] > 130 and joined["morphId"][0] == 3
    for x, y in ((300, 300), (400, 100)):  # not touched: unchanged compact islands
        assert list(_near(out, x, y, 3.0)["npix"]) == list(_near(table, x, y, 3.0)["npix"])
        assert list(_near(out, x, y, 3.0)["morphId"]) == [1]
    assert set(out["npix"]) >= {900, 6}


def test_morphology_rules_of_the_merge() -> None:
    table = empty_island_table(4)
    table["beamArea"] = 10.0
    table["npix"] = [150, 250, 250, 250]
    table["nested"][2] = [{"npix": 40, "morphId": 0}]
    table["nested"][3] = [{"npix": 240, "morphId": 0}]
    assign_morphology(table, 20.0)
    assert list(table["morphId"]) == [1, 3, 4, 3]
    assert table["nested"][2][0]["morphId"] == 1 and table["nested"][3][0]["morphId"] == 3


def test_tile_merge_keeps_unmerged_extended_names() -> None:
    table = empty_island_table(3)
    table["name"] = ["Sext1", "S2", "S1"]
    table["scan_x"] = [1, 5, 9]
    merged = assign_names(table)
    assert list(merged["name"]) == ["S1", "S2", "Sext1"]
    assert list(merged["scan_x"]) == [5, 9, 1]


# --------------------------------------------------------------------------------------------- outputs
def test_caesar_products_of_merged_sources(tmp_path: Path) -> None:
    table = _extract(_field(0, blob=True, point=True))
    written = write_catalogue_products(table, tmp_path, "field")
    mother = int(np.flatnonzero(table["morphId"] == 4)[0])
    lines = written["regions"].read_text().splitlines()[3:]
    name = str(table["name"][mother])
    mine = [ln for ln in lines if f"text={{{name}}}" in ln]
    assert len(mine) == 1 and "color=magenta tag={COMPACT-EXTENDED}" in mine[0]
    nested = [ln for ln in lines if f"text={{{name}_N1}}" in ln]
    assert len(nested) == 1 and "color=blue tag={COMPACT}" in nested[0]
    back = read_island_catalogue(written["catalogue"])
    assert list(back["morphId"]).count(4) == 1 and f"{name}_N1" in list(back["name"])
    sources = json.loads(written["json"].read_text())["sources"]
    assert [src["morph_label"] for src in sources if src["name"] == name] == ["COMPACT-EXTENDED"]
    sext = _extract(_field(0, blob=True), mergesources=False)
    sext_lines = write_catalogue_products(sext, tmp_path, "sext")["regions"].read_text().splitlines()
    assert any("text={Sext1} color=green tag={EXTENDED}" in ln for ln in sext_lines)


# --------------------------------------------------------------------------------------------- parameters
CAESAR_REST_OPTIONS = {
    "extsfinder": "SALIENCY-THRESH", "no-presmoothing": True, "smoothfilter": "GAUSSIAN",
    "guidedfilter-radius": 8, "guidedfilter-eps": 0.1, "saliency-thr": 2.0, "saliency-nooptimalthr": None,
    "saliency-minreso": 10, "saliency-maxreso": 40, "saliency-resostep": 5, "saliency-nn": 0.5,
    "saliency-usebkgmap": None, "saliency-usermsmap": "true", "saliency-userobustpars": True, "sp-size": 30,
    "sp-beta": 2.0, "sp-minarea": 20, "--fit-maxnbeams": 30, "no-mergesources": True,
}  # fmt: skip


def test_caesar_rest_options_round_trip() -> None:
    params = ExtractionParams.parse(CAESAR_REST_OPTIONS)
    assert params.extendedsearch and not params.presmoothing and not params.mergesources
    assert (params.smoothfilter, params.guidedfilter_radius, params.guidedfilter_eps) == ("GAUSSIAN", 8, 0.1)
    assert (params.saliency_minreso, params.saliency_maxreso, params.saliency_resostep) == (10, 40, 5)
    assert params.saliency_nooptimalthr and params.saliency_usebkgmap and params.saliency_usermsmap
    assert (params.sp_size, params.sp_beta, params.sp_minarea) == (30, 2.0, 20)
    stage = params.extended_stage()
    assert stage is not None and stage.finder is not None and not stage.merge and stage.max_nbeams == 30
    finder = stage.finder
    assert finder.scales == [10, 15, 20, 25, 30, 35, 40] and finder.work_factor == 1
    assert (finder.knn_factor, finder.thr_factor, finder.optimal_thr, finder.robust) == (0.5, 2.0, False, True)
    assert (finder.use_bkg_map, finder.use_rms_map, finder.presmoothing) == (True, True, False)
    assert ExtractionParams.model_validate(params.model_dump()) == params
    defaults = ExtractionParams().extended_stage()
    assert defaults is not None and defaults.finder == ExtendedFinder() and defaults.merge
    assert defaults.finder.scales == [20, 30, 40, 50, 60] and defaults.finder.work_factor == 2
    off = ExtractionParams.parse({"no-extendedsearch": True, "no-mergesources": True})
    assert off.extended_stage() is None
    assert ExtractionParams.parse({"extsfinder": 4, "smoothfilter": 1}).smoothfilter == "GAUSSIAN"
    assert ExtractionParams.parse({"extsfinder": "saliency-thresh"}).extsfinder == "SALIENCY-THRESH"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"saliency-minreso": 50, "saliency-maxreso": 40},
            "saliency_minreso (50) must not exceed saliency_maxreso (40)",
        ),
        ({"saliency-nn": 1.5}, "saliency_nn: Input should be less than or equal to 1"),
        ({"saliency-resostep": 0}, "saliency_resostep: Input should be greater than or equal to 1"),
        ({"saliency-thr": -1}, "saliency_thr: Input should be greater than or equal to 0"),
        (
            {"extsfinder": "ACTIVE-CONTOUR"},
            "extsfinder: Value error, ACTIVE-CONTOUR is not implemented; SALIENCY-THRESH and WT-THRESH are",
        ),
        ({"wtscalemin": 5, "wtscalemax": 4}, "wtscalemin (5) must not exceed wtscalemax (4)"),
        ({"extsfinder": 7}, "extsfinder: Value error, must be one of"),
        ({"smoothfilter": "BOX"}, "smoothfilter: Value error, must be one of ['GAUSSIAN', 'GUIDED'], got 'BOX'"),
        ({"guidedfilter-eps": -0.1}, "guidedfilter_eps: Input should be greater than or equal to 0"),
        ({"guidedfilter-radius": 0}, "guidedfilter_radius: Input should be greater than or equal to 1"),
        ({"extended_minsnr": -1}, "extended_minsnr: Input should be greater than or equal to 0"),
        ({"saliency-minreso": "big"}, "saliency_minreso: Input should be a valid integer"),
    ],
)
def test_invalid_extended_options_are_parameter_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError, match=re.escape(message)):
        ExtractionParams.parse(options)


def test_invalid_finder_values_are_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="smooth_filter must be one of"):
        ExtendedFinder(smooth_filter="MEDIAN")
    with pytest.raises(ParameterError, match="need 1 ≤ min_reso ≤ max_reso"):
        ExtendedFinder(min_reso=30, max_reso=20)
    with pytest.raises(ParameterError, match="need 0 ≤ knn_factor ≤ 1"):
        ExtendedFinder(knn_factor=2.0)
    with pytest.raises(ParameterError, match="box size must be ≥ 1"):
        box_mean(np.zeros((4, 4), np.float32), 0)


# --------------------------------------------------------------------------------------------- building blocks
def test_box_gaussian_and_guided_filters() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 33)).astype(np.float32)
    padded = np.pad(x, ((6, 5), (6, 5)), mode="reflect")  # OpenCV blur(12): window [i − 6, i + 5]
    brute = np.array([[padded[i : i + 12, j : j + 12].mean() for j in range(33)] for i in range(40)])
    np.testing.assert_allclose(box_mean(x, 12), brute, atol=1e-5)
    np.testing.assert_allclose(
        gaussian_smooth(x), ndimage.gaussian_filter(x, 1.0, truncate=2.0, mode="mirror"), atol=1e-5
    )
    step = np.zeros((40, 40), np.float32)
    step[:, 20:] = 1.0
    step += rng.normal(0, 0.01, step.shape).astype(np.float32)
    sharp = guided_filter(step, 6, 1e-4)  # small ε: the edge is kept
    assert sharp[:, 18].mean() < 0.1 and sharp[:, 21].mean() > 0.9
    soft = guided_filter(step, 6, 1e3)  # huge ε: a ≈ 0, the output is box(box(image))
    u = (step - step.min()) / (step.max() - step.min())
    np.testing.assert_allclose(soft, box_mean(box_mean(u, 6), 6), atol=1e-3)
    assert 0.2 < soft[:, 19].mean() < 0.8


def test_bin_image_averages_valid_pixels() -> None:
    data = np.arange(15, dtype=np.float32).reshape(3, 5)
    valid = np.ones(data.shape, bool)
    valid[0, 0] = False
    binned, has = bin_image(data, valid, 2)
    assert binned.shape == (2, 3) and has.all()
    assert binned[0, 0] == pytest.approx((1 + 5 + 6) / 3) and binned[1, 2] == pytest.approx(14.0)
    assert binned[0, 1] == pytest.approx((2 + 3 + 7 + 8) / 4)


def test_block_edges_and_region_saliency() -> None:
    assert list(block_edges(100, 20)) == [0, 20, 40, 60, 80, 100] and list(block_edges(10, 60)) == [0, 10]
    rng = np.random.default_rng(3)
    cy, cx = np.meshgrid(np.arange(50) * 20 + 10.0, np.arange(60) * 20 + 10.0, indexing="ij")
    mu = rng.normal(0, 1, cy.shape)
    mu[10:14, 20:25] += 8
    mu[40, 5] += 40
    for knn, tolerance in ((1.0, 0.06), (0.3, 0.15)):
        exact = region_saliency(mu.ravel(), cy.ravel(), cx.ravel(), knn, exact=True)
        binned = region_saliency(mu.ravel(), cy.ravel(), cx.ravel(), knn, exact=False)
        assert np.abs(exact - binned).max() < tolerance and np.corrcoef(exact, binned)[0, 1] > 0.99
        sal = exact.reshape(cy.shape)
        assert sal[40, 5] == 1.0 and sal[11, 22] > 0.9 and np.median(sal) < 0.6
    assert not region_saliency(np.ones(9), np.arange(9.0), np.arange(9.0), 1.0).any()


def test_thresholds_known_answers() -> None:
    assert weighted_median(np.array([1.0, 2.0, 10.0]), np.array([1.0, 1.0, 5.0])) == 10.0
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(20, 3, 2000), rng.normal(180, 10, 200), [256.0]])
    weights = np.ones(values.size)
    median = float(np.median(values))
    assert optimal_threshold(values, weights, 2.8, optimal=False) == pytest.approx(2.8 * median, rel=0.01)
    optimal = optimal_threshold(values, weights, 1.0)
    assert 30 < optimal < 150  # between the background and the salient mode
    assert optimal_threshold(values, weights, 10.0) == pytest.approx(10 * median, rel=0.01)  # the floor
    assert optimal_threshold(values, np.zeros(values.size), 2.8) == math.inf
