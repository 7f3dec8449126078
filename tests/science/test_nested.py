"""Nested (blob-in-blob) sources: two compact blobs on a shared diffuse plateau become S1_N1, S1_N2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from science.extract.extractor import ExtractionParams, SourceExtractor
from science.extract.gaussian import gaussian_model
from science.image import Beam, Image
from science.io.catalogue import read_island_catalogue, write_catalogue_products
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
