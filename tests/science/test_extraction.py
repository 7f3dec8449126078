"""Simulate → extract → match, tiled vs untiled, parameters and a 2048² sanity run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from science.errors import ParameterError
from science.extract.extractor import ExtractionParams, SourceExtractor, extract_file
from science.extract.tiling import extract_tile, merge_tiles, plan_file_tiles, plan_tiles
from science.image import Beam
from science.io.fits import write_image
from science.io.truth import load_truth, write_truth
from science.match import match_to_truth
from science.simulate import TRUTH_COLUMNS, simulate_image


def test_simulation_is_seeded_and_has_truth_columns() -> None:
    a, truth = simulate_image(seed=11, n_sources=40)
    b, _ = simulate_image(seed=11, n_sources=40)
    np.testing.assert_array_equal(a.data, b.data)
    assert tuple(truth.colnames) == TRUTH_COLUMNS
    assert np.all(truth["flux_jy"] == truth["peak_jy"])
    np.testing.assert_allclose(truth["snr"], truth["peak_jy"] / 1e-4)
    assert set(truth["kind"]) == {"point"}
    # correlated noise renormalised to the requested rms (source-free image)
    noise, _ = simulate_image(seed=2, n_sources=0)
    assert float(np.std(noise.data)) == pytest.approx(1e-4, rel=0.05)


def test_truth_ecsv_round_trip(tmp_path: Path) -> None:
    _, truth = simulate_image(seed=1, n_sources=10)
    back = load_truth(write_truth(truth, tmp_path / "truth.ecsv"))
    assert back.colnames == truth.colnames
    np.testing.assert_array_equal(back["x"], truth["x"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_completeness_and_reliability_on_a_512_simulation(seed: int) -> None:
    """≥ 90 % of truth sources with peak S/N ≥ 10 found within 2 px (half a beam); ≥ 90 % of detections real."""
    image, truth = simulate_image(seed=seed)
    catalogue = SourceExtractor().extract(image)
    result = match_to_truth(catalogue, truth, radius_pix=2.0, snr_min=10.0)
    assert result.n_truth >= 50
    assert result.completeness >= 0.9
    assert result.reliability >= 0.9


def _write_sim(tmp_path: Path, **kwargs: object) -> tuple[Path, Table]:
    image, truth = simulate_image(**kwargs)  # type: ignore[arg-type]
    return write_image(tmp_path / "sim.fits", image), truth


@pytest.mark.parametrize(
    "settings",
    [{}, {"bkgskipoutliers": True}, {"compactsearchiters": 3}, {"bkgislandcorrection": True, "seedpeakinterp": True}],
)
def test_tiled_equals_untiled_without_duplicates(tmp_path: Path, settings: dict[str, object]) -> None:
    path, _ = _write_sim(tmp_path, shape=(700, 640), n_sources=300, seed=4, min_separation_beams=3.0)
    whole = extract_file(path, ExtractionParams(**settings))
    tiled = extract_file(path, ExtractionParams(tile_size=200, **settings))
    assert len(plan_file_tiles(path, ExtractionParams(tile_size=200))) == 16
    assert len(tiled) == len(whole)
    assert list(tiled["name"]) == [f"S{k + 1}" for k in range(len(tiled))]
    np.testing.assert_allclose(tiled["x"], whole["x"], atol=0.01)
    np.testing.assert_allclose(tiled["y"], whole["y"], atol=0.01)
    assert list(tiled["npix"]) == list(whole["npix"])
    pairs = {(round(float(x), 3), round(float(y), 3)) for x, y in zip(tiled["x"], tiled["y"], strict=True)}
    assert len(pairs) == len(tiled)


def test_island_straddling_a_seam_is_found_once(tmp_path: Path) -> None:
    path, _ = _write_sim(tmp_path, shape=(400, 400), n_sources=0, seed=9)
    from science.io.fits import load_image

    image = load_image(path)
    yy, xx = np.indices(image.shape)
    image.data[...] += (2e-3 * np.exp(-0.5 * ((xx - 200.3) ** 2 + (yy - 150.0) ** 2) / 1.7**2)).astype(np.float32)
    write_image(path, image)
    params = ExtractionParams(tile_size=200)
    tiles = plan_file_tiles(path, params)
    per_tile = [extract_tile(str(path), tile, params) for tile in tiles]
    assert [len(t) for t in per_tile].count(1) == 1
    merged = merge_tiles(per_tile)
    assert len(merged) == 1 and merged["name"][0] == "S1"
    assert merged["x"][0] == pytest.approx(200.3, abs=0.3)


def test_plan_tiles_cores_partition_the_image() -> None:
    tiles = plan_tiles((1000, 700), 256, 50)
    cover = np.zeros((1000, 700), int)
    for t in tiles:
        cover[t.core_y0 : t.core_y1, t.core_x0 : t.core_x1] += 1
        assert t.y0 == max(0, t.core_y0 - 50) and t.x1 == min(700, t.core_x1 + 50)
    assert np.all(cover == 1)
    assert [t.index for t in tiles] == list(range(len(tiles)))
    with pytest.raises(ParameterError, match="need tile_size ≥ 1"):
        plan_tiles((10, 10), 0, 5)


def test_params_reject_unknown_and_inconsistent_keys() -> None:
    with pytest.raises(
        ParameterError, match=re.escape("invalid extraction parameters: seedtrh: Extra inputs are not permitted")
    ):
        ExtractionParams.parse({"seedtrh": 4})
    with pytest.raises(ParameterError, match=re.escape("mergethr (6.0) must not exceed seedthr (5.0)")):
        ExtractionParams.parse({"mergethr": 6.0})
    with pytest.raises(ParameterError, match="npixmin: Input should be greater than or equal to 1"):
        ExtractionParams.parse({"npixmin": 0})
    with pytest.raises(ParameterError, match="bmaj and bmin must be given together"):
        ExtractionParams.parse({"bmaj": 10.0})
    params = ExtractionParams.parse({"seedthr": 4.5, "bmaj": 10.0, "bmin": 5.0})
    assert params.user_beam() == Beam(10.0, 5.0, 0.0)
    assert ExtractionParams() == ExtractionParams(seedthr=5.0, mergethr=2.6, npixmin=5, bkgbox=20, bkggrid=0.2)


def test_large_image_extracts(tmp_path: Path) -> None:
    """Sanity: a 2048² image with 2000 sources goes through (≈ 1 s on 2 cores; timing lives in bench/)."""
    path, truth = _write_sim(tmp_path, shape=(2048, 2048), n_sources=2000, seed=8)
    catalogue = extract_file(path)
    result = match_to_truth(catalogue, truth, radius_pix=2.0, snr_min=10.0)
    assert result.completeness >= 0.9 and result.reliability >= 0.9


def test_simulator_extras_have_classes_fluxes_and_keep_the_default_image() -> None:
    plain, _ = simulate_image(seed=5, n_sources=20)
    image, truth = simulate_image(
        seed=5, n_sources=20, n_resolved=3, n_doubles=2, n_diffuse=1, sidelobe_level=0.03, snr_min=50.0,
        snr_max=300.0, rms_gradient=1.0,
    )  # fmt: skip
    assert not np.array_equal(plain.data, image.data)
    counts = {k: int((truth["kind"] == k).sum()) for k in ("point", "resolved", "double", "diffuse")}
    assert counts == {"point": 20, "resolved": 3, "double": 4, "diffuse": 1}
    assert set(truth["class"][truth["kind"] == "sidelobe"]) == {"spurious"}
    assert (truth["kind"] == "sidelobe").sum() == 6 * int(
        (truth["peak_jy"][truth["class"] != "spurious"] >= 100 * 1e-4).sum()
    )
    resolved = truth[truth["kind"] == "resolved"]
    assert np.all(resolved["flux_jy"] > resolved["peak_jy"])
    assert list(truth.colnames[:9]) == ["name", "x", "y", "ra", "dec", "peak_jy", "flux_jy", "snr", "kind"]
    # rms grows along x: right-hand noise is about twice the left-hand one
    left, right = np.median(np.abs(image.data[:, :40])), np.median(np.abs(image.data[:, -40:]))
    assert right / left > 1.5


def test_bkgskipoutliers_leaves_the_sources_out_of_the_noise_map() -> None:
    """A crowded field: the sources inflate caesar's box MADs; estimated again without them, the rms is true."""
    from science.extract.pipeline import background_maps

    image, truth = simulate_image(shape=(512, 512), n_sources=400, seed=3, snr_max=300.0)
    beam = image.beam.size_pixels(image.pixscale_arcsec)
    true_rms = float(truth.meta["rms_jy"])
    plain = float(np.median(background_maps(image.data, ExtractionParams(), beam).rms)) / true_rms
    skip = float(np.median(background_maps(image.data, ExtractionParams(bkgskipoutliers=True), beam).rms)) / true_rms
    assert plain > 1.04
    assert abs(skip - 1.0) < 0.03


def test_bkgskipoutliers_leaves_negative_excesses_out_too() -> None:
    """caesar masks negative blobs as well (negative sidelobes): flipping the sources' sign changes nothing."""
    from science.extract.pipeline import background_maps

    image, truth = simulate_image(shape=(512, 512), n_sources=400, seed=3, snr_max=300.0)
    beam = image.beam.size_pixels(image.pixscale_arcsec)
    true_rms = float(truth.meta["rms_jy"])
    negative = np.negative(image.data)  # Gaussian noise is symmetric: the same field with every source negative
    params = ExtractionParams(bkgskipoutliers=True)
    plain = float(np.median(background_maps(negative, ExtractionParams(), beam).rms)) / true_rms
    skip = float(np.median(background_maps(negative, params, beam).rms)) / true_rms
    assert plain > 1.04
    assert abs(skip - 1.0) < 0.03


def test_maps_made_elsewhere_replace_the_estimate() -> None:
    """The same maps passed in give the same catalogue; a higher noise map finds fewer sources; a map of
    another shape is refused."""
    from science.extract.background import BackgroundMaps
    from science.extract.pipeline import background_maps, extract_pixels

    image, _ = simulate_image(shape=(384, 384), n_sources=120, seed=6)
    params = ExtractionParams(fitsources=True, extendedsearch=False)
    common = {
        "wcs": image.wcs,
        "beam": image.beam,
        "pixscale_arcsec": image.pixscale_arcsec,
        "frequency_hz": image.frequency_hz,
        "params": params,
    }
    own = extract_pixels(image.data, **common)
    maps = background_maps(image.data, params, image.beam.size_pixels(image.pixscale_arcsec))
    given = extract_pixels(image.data, maps=maps, **common)
    assert len(own) > 20
    np.testing.assert_array_equal(given["x"], own["x"])
    np.testing.assert_array_equal(given["S(Jy)"], own["S(Jy)"])
    noisier = BackgroundMaps(maps.level, maps.rms * np.float32(2.0))
    assert 0 < len(extract_pixels(image.data, maps=noisier, **common)) < len(own)
    small = BackgroundMaps(maps.level[:-1], maps.rms[:-1])
    with pytest.raises(ValueError, match=r"do not fit the image's \(384, 384\)"):
        extract_pixels(image.data, maps=small, **common)


def test_compact_search_iterations_lower_the_seed_and_keep_what_was_found() -> None:
    """caesar's compactsearchiters: later iterations search the image without the islands found so far, with
    the seed lowered by seedthrstep (never to mergethr); the islands are the union of all iterations."""
    from science.extract.islands import IslandPixels
    from science.extract.pipeline import compact_islands

    image, _ = simulate_image(shape=(512, 512), n_sources=250, seed=5)
    beam = image.beam.size_pixels(image.pixscale_arcsec)
    area = image.beam.area_pixels(image.pixscale_arcsec)

    def islands(**settings: int | float) -> tuple[Table, list[IslandPixels]]:
        params = ExtractionParams(**settings)  # type: ignore[arg-type]
        maps = params.background_estimator().estimate(image.data, beam)
        return compact_islands(image.data, maps, params, beam, wcs=image.wcs, beam_area_pixels=area, frequency_hz=None)

    one, one_px = islands()
    three, three_px = islands(compactsearchiters=3)  # seeds 5, 4.5, 4
    assert np.all(one["zmax"] >= 5.0)
    assert len(three) > len(one) and np.any(three["zmax"] < 5.0)  # fainter islands from the lower seeds
    covered = {(int(x), int(y)) for p in three_px for x, y in zip(p.x, p.y, strict=True)}
    assert all((int(x), int(y)) in covered for p in one_px for x, y in zip(p.x, p.y, strict=True))
    floor, _ = islands(compactsearchiters=6, seedthrstep=1.0)  # seeds 5, 4, 3, then never down to mergethr
    assert len(floor) > len(three)
    assert float(np.min(floor["zmax"])) > 2.6
    none, _ = islands(compactsearchiters=0)
    assert len(none) == 0
    off, _ = islands(compactsearch=False)  # caesar-rest no-compactsearch
    assert len(off) == 0
