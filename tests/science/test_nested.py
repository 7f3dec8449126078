"""Nested (blob-in-blob) sources: two compact blobs on a shared diffuse plateau become S1_N1, S1_N2; fitted in
place of a mother too big to fit, as caesar does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from scipy import ndimage

from science.extract.extractor import ExtractionParams, SourceExtractor
from science.extract.gaussian import gaussian_model
from science.extract.islands import IslandPixels
from science.extract.nested import laplacian_of_gaussian
from science.image import Beam, Image
from science.io.catalogue import read_island_catalogue, write_catalogue_products
from science.io.components import read_component_catalogue
from science.simulate import make_sim_wcs

SIGMA = 4.0 / 2.3548


def _image() -> Image:
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:160, 0:160].astype(float)
    plateau = gaussian_model(np.array([8e-4, 80.0, 80.0, 14.0, 10.0, 0.0]), xx.ravel(), yy.ravel())
    blobs = gaussian_model(
        np.array([5e-3, 70.0, 80.0, SIGMA, SIGMA, 0.0, 4e-3, 92.0, 82.0, SIGMA, SIGMA, 0.0]), xx.ravel(), yy.ravel()
    )
    data = (plateau + blobs).reshape(160, 160) + rng.normal(0, 1e-4, (160, 160))
    return Image(data.astype(np.float32), make_sim_wcs((160, 160), 2.0, 150.0, -30.0), Beam(8.0, 8.0, 0.0), "nest")


def test_two_blobs_in_a_big_island_are_nested_sources(tmp_path: Path) -> None:
    table = SourceExtractor(ExtractionParams(bkgbox=200)).extract(_image())
    mother = table[int(np.argmax(table["npix"]))]
    assert mother["nNestedSources"] == 2
    xs = sorted(round(n["x"]) for n in mother["nested"])
    assert abs(xs[0] - 70) <= 2 and abs(xs[1] - 92) <= 2
    assert all(n["sourceNestedLevel"] == 1 for n in mother["nested"])
    written = write_catalogue_products(table, tmp_path, "nest")
    back = read_island_catalogue(written["catalogue"])
    names = list(back["name"])
    k = names.index(str(mother["name"]))
    assert names[k + 1 : k + 3] == [f"{mother['name']}_N1", f"{mother['name']}_N2"]
    assert list(back["sourceNestedLevel"][k : k + 3]) == [0, 1, 1]


def test_no_nestedsearch_option_switches_it_off() -> None:
    params = ExtractionParams.parse({"no-nestedsearch": True, "bkgbox": 200})
    table: Table = SourceExtractor(params).extract(_image())
    assert int(np.sum(table["nNestedSources"])) == 0


def test_nested_sources_of_an_island_too_big_to_fit_are_fitted_instead(tmp_path: Path) -> None:
    # The plateau's island is ~55 beams (fit-maxnbeams 20): caesar fits its nested sources one by one.
    table = SourceExtractor(ExtractionParams(bkgbox=200, fitsources=True)).extract(_image())
    mother = table[int(np.argmax(table["npix"]))]
    assert mother["nComponents"] == 0 and len(mother["components"]) == 0
    assert all(n["nComponents"] >= 1 for n in mother["nested"])
    # the brightest component of each (deblending may add bumps of the plateau, 6-8 sigma, as caesar would)
    comps = sorted((n["components"][0] for n in mother["nested"]), key=lambda c: c["x"])
    assert [round(c["x"]) for c in comps] == [70, 92] and [round(c["y"]) for c in comps] == [80, 82]
    # each blob stands on the plateau (0.6-0.8 mJy there): fitted above the background near its own peak (the
    # plateau under it is fitted by a component of its own, or raises the blob's, by up to 0.8 mJy)
    assert 0.85 * 5e-3 < comps[0]["Speak(Jy/beam)"] < 1.3 * 5e-3
    assert 0.85 * 4e-3 < comps[1]["Speak(Jy/beam)"] < 1.3 * 4e-3
    assert all(n["S(Jy)"] > 0 for n in mother["nested"])
    written = write_catalogue_products(table, tmp_path, "nest")
    back = read_component_catalogue(written["fitcomp_catalogue"])
    names = [f"{mother['name']}_N{k}" for k, n in enumerate(mother["nested"], start=1) for _ in n["components"]]
    assert [str(n) for n in back["name"]] == names
    islands = read_island_catalogue(written["catalogue"])
    nested = islands[islands["sourceNestedLevel"] == 1]
    assert list(nested["nComponents"]) == [n["nComponents"] for n in mother["nested"]]


def test_a_mother_small_enough_to_fit_is_fitted_as_a_whole() -> None:
    table = SourceExtractor(ExtractionParams(bkgbox=200, fitsources=True, fit_maxnbeams=100)).extract(_image())
    mother = table[int(np.argmax(table["npix"]))]
    assert mother["nComponents"] >= 1
    assert all(len(n["components"]) == 0 for n in mother["nested"])


def test_island_part_takes_the_nested_pixels_in_order_and_refuses_foreign_ones() -> None:
    isl = IslandPixels(
        np.array([3.0, 4.0, 5.0]), np.array([7.0, 7.0, 8.0]), np.array([1.0, 2.0, 3.0]), np.ones(3), np.arange(3.0)
    )
    part = isl.part(np.array([[5, 8], [3, 7]]))
    assert list(part.value) == [3.0, 1.0] and list(part.z) == [2.0, 0.0]
    with pytest.raises(ValueError, match="not the island's"):
        isl.part(np.array([[4, 8]]))
    with pytest.raises(ValueError, match="not the island's"):  # beyond every pixel of the island
        isl.part(np.array([[9, 9]]))


def test_nested_sources_as_start_components_of_a_fittable_mother() -> None:
    # fit-usenestedascomponents: the mother (fittable with fit-maxnbeams 100) starts from its two nested blobs
    params = ExtractionParams(bkgbox=200, fitsources=True, fit_maxnbeams=100, fit_usenestedascomponents=True)
    table = SourceExtractor(params).extract(_image())
    mother = table[int(np.argmax(table["npix"]))]
    assert all(len(n["components"]) == 0 for n in mother["nested"])
    comps = mother["components"]
    assert mother["nComponents"] == len(comps) >= 2
    near = [min(np.hypot(c["x"] - bx, c["y"] - by) for c in comps) for bx, by in ((70, 80), (92, 82))]
    assert max(near) < 1.0


def test_no_nested_source_bright_enough_means_no_fit_as_caesar() -> None:
    from science.extract.sourcefit import SourceFitting

    params = ExtractionParams(bkgbox=200, fitsources=True, fit_maxnbeams=100, fit_usenestedascomponents=True)
    fitting = params.source_fitting()
    assert isinstance(fitting, SourceFitting) and fitting.nested_as_components
    strict = ExtractionParams(
        bkgbox=200, fitsources=True, fit_maxnbeams=100, fit_usenestedascomponents=True, fit_peakzthrmin=1000.0
    )
    table = SourceExtractor(strict).extract(_image())
    mother = table[int(np.argmax(table["npix"]))]
    assert mother["nNestedSources"] == 2 and mother["nComponents"] == 0


@pytest.mark.parametrize("shape", [(1, 1), (7, 30), (57, 41)])
def test_laplacian_of_gaussian_is_scipys_bit_for_bit(shape: tuple[int, int]) -> None:
    """The nested search's LoG (kernels made once per scale) is scipy's gaussian_laplace, exactly."""
    image = np.random.default_rng(4).normal(size=shape)
    for sigma in (0.8, 1.7, 5.1):
        np.testing.assert_array_equal(laplacian_of_gaussian(image, sigma), ndimage.gaussian_laplace(image, sigma))
