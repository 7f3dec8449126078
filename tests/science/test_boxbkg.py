"""caesar's background around a source (fit-usebkgboxestimate): which pixels, by which estimator, and how the
fit uses it."""

from __future__ import annotations

import numpy as np
import pytest

from science.extract.boxbkg import BoxBackground
from science.extract.estimators import BkgEstimator
from science.extract.extractor import ExtractionParams, SourceExtractor
from science.extract.islands import IslandPixels
from science.simulate import simulate_image


def _square(y0: int, y1: int, x0: int, x1: int) -> IslandPixels:
    ys, xs = np.mgrid[y0:y1, x0:x1]
    zeros = np.zeros(xs.size)
    return IslandPixels(xs.ravel().astype(float), ys.ravel().astype(float), zeros, zeros + 1.0, zeros)


def test_the_box_leaves_out_every_island_but_a_nested_source_keeps_its_mother() -> None:
    checker = 0.5 * np.where(np.add.outer(np.arange(60), np.arange(60)) % 2 == 0, 1.0, -1.0)
    data = (1.0 + checker).astype(np.float32)
    data[20:30, 20:30] += 99.0  # the source
    data[32:34, 32:34] += 49.0  # another island inside its box
    data[10:12, 10:12] = -3.0  # negative pixels count (caesar's mask test drops them)
    in_island = np.zeros(data.shape, bool)
    in_island[20:30, 20:30] = in_island[32:34, 32:34] = True
    source = _square(20, 30, 20, 30)
    # border 5: rows/columns 15-34, 400 pixels less the two islands' 104: 148 at 1.5 and 148 at 0.5
    level, rms = BoxBackground(data, in_island, border=5, estimator=BkgEstimator.MEAN).around(source)  # type: ignore[misc]
    assert level == pytest.approx(1.0) and rms == pytest.approx(0.5 * np.sqrt(296 / 295))
    # border 10: 796 pixels, the 4 negative ones among them (2 at 1.5 and 2 at 0.5 replaced by -3)
    wide = BoxBackground(data, in_island, border=10, estimator=BkgEstimator.MEAN).around(source)
    assert wide is not None and wide[0] == pytest.approx((796.0 - 4.0 - 12.0) / 796)
    inner = _square(24, 26, 24, 26)  # a nested source: its mother's pixels are in its box
    nested = BoxBackground(data, in_island, border=2, estimator=BkgEstimator.MEDIAN).around(inner, nested=True)
    assert nested is not None and nested == pytest.approx((100.0, 0.5 * 1.4826))
    assert BoxBackground(data, in_island, estimator=BkgEstimator.BIWEIGHT).around(source) is None  # caesar: none
    assert BoxBackground(data, np.ones(data.shape, bool), border=3).around(source) is None  # no pixel left


def test_the_fit_takes_the_boxs_level_where_the_maps_miss_a_local_pedestal() -> None:
    image, truth = simulate_image(shape=(256, 256), n_sources=10, seed=5, min_separation_beams=8.0)
    bright = truth[np.argmax(truth["snr"])]
    x, y = round(float(bright["x"])), round(float(bright["y"]))
    image.data[max(y - 25, 0) : y + 26, max(x - 25, 0) : x + 26] += np.float32(3e-4)  # 3σ, far below a 20-beam box
    options = {"fitsources": True, "no-extendedsearch": True, "fit-fixunresolved": False}

    def flux(**extra: object) -> float:
        table = SourceExtractor(ExtractionParams.parse({**options, **extra})).extract(image)
        comps = [c for row in table["components"] for c in row]
        nearest = min(comps, key=lambda c: (c["x"] - bright["x"]) ** 2 + (c["y"] - bright["y"]) ** 2)
        return float(nearest["S(Jy)"])

    true_flux = float(bright["flux_jy"])
    by_map, by_box = flux(), flux(**{"fit-usebkgboxestimate": True, "sourcebkgboxborder": 10})
    # the pedestal widens the map-based fit (+46 % here); the box's level takes it off (+7 %)
    assert abs(by_box - true_flux) < 0.5 * abs(by_map - true_flux)
    assert ExtractionParams.parse({"fit-usebkgboxestimate": True}).fit_usebkgboxestimate
