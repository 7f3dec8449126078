"""caesar's WT-THRESH extended-source search: the à trous transform as caesar computes it, and known answers
on the extended-source test fields (a 3σ, 12-beam blob among bright compact sources)."""

from __future__ import annotations

import numpy as np
import pytest

from science.errors import ParameterError
from science.extract.background import BackgroundEstimator
from science.extract.extractor import ExtractionParams
from science.extract.islands import IslandFinder
from science.extract.wavelet import WaveletFinder, atrous_decomposition
from tests.science.test_extended import BLOB, POINTS, _extract, _field, _near

B3 = np.array([1.0, 4.0, 6.0, 4.0, 1.0])


def _caesar_atrous(image: np.ndarray, scale: int) -> np.ndarray:
    """A literal port of caesar's ``MathUtils::GetATrousConvolution`` (its loops, its mirror index)."""
    kernel = np.outer(B3, B3) / 256.0
    nrows, ncols = image.shape
    gap = 2 ** (scale - 1)

    def mirror(i: int, n: int) -> int:
        return -i if i < 0 else (2 * (n - 1) - i if i > n - 1 else i)

    out = np.zeros_like(image)
    for i in range(nrows):
        for j in range(ncols):
            for k in range(-2, 2):  # caesar: for(k=-rowIndex; k<rowIndex; k++)
                for m in range(-2, 2):
                    out[i, j] += kernel[k + 2, m + 2] * image[mirror(i + gap * k, nrows), mirror(j + gap * m, ncols)]
    return out


def test_the_transform_is_caesars_step_by_step() -> None:
    image = np.random.default_rng(3).normal(size=(13, 11))
    planes = atrous_decomposition(image, 3)
    f1 = _caesar_atrous(image, 1)
    f2 = _caesar_atrous(f1, 2)
    f3 = _caesar_atrous(f2, 3)
    for got, want in zip(planes, [image - f1, f1 - f2, f2 - f3, f3], strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(sum(planes), image, atol=1e-12)  # the planes add up to the image


def test_caesars_four_tap_loop_scales_a_constant_by_225_over_256_per_scale() -> None:
    planes = atrous_decomposition(np.full((40, 40), 2.0), 4)
    np.testing.assert_allclose(planes[-1], 2.0 * (225 / 256) ** 4)
    np.testing.assert_allclose(planes[0], 2.0 * (1 - 225 / 256))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_faint_blob_is_one_extended_source_at_its_place(seed: int) -> None:
    table = _extract(_field(seed, blob=True), extsfinder="WT-THRESH")
    extended = table[table["morphId"] == 3]
    assert len(extended) == 1 and len(table) == len(POINTS) + 1
    assert len(_near(extended, BLOB[0], BLOB[1], 8.0)) == 1
    assert int(extended["npix"][0]) > 2000  # most of the blob's 48 px FWHM disc, not a peak
    on_residual = _extract(_field(seed, blob=True), extsfinder="WT-THRESH", computeresiduals=True)
    assert len(_near(on_residual[on_residual["morphId"] == 3], BLOB[0], BLOB[1], 8.0)) == 1


@pytest.mark.parametrize("seed", [0, 2])
def test_noise_and_compact_sources_give_no_extended_source(seed: int) -> None:
    table = _extract(_field(seed), extsfinder="WT-THRESH")
    assert (table["morphId"] == 3).sum() == 0 and len(table) == len(POINTS)


def test_wavelet_options_and_errors() -> None:
    stage = ExtractionParams.parse({"extsfinder": 1, "wtscalemin": 2, "wtscalemax": 4, "seedthr": 4}).extended_stage()
    assert stage is not None and isinstance(stage.finder, WaveletFinder)
    assert (stage.finder.min_scale, stage.finder.max_scale) == (2, 4)
    assert stage.finder.islands.seed_thr == 4
    with pytest.raises(ParameterError, match="wtscalemin ≤ wtscalemax"):
        WaveletFinder(BackgroundEstimator(), IslandFinder(), min_scale=4, max_scale=3)
    with pytest.raises(ParameterError, match="at least one wavelet scale"):
        atrous_decomposition(np.zeros((4, 4)), 0)
    finder = WaveletFinder(BackgroundEstimator(), IslandFinder())
    with pytest.raises(ParameterError, match="beam size"):
        finder.find(np.zeros((8, 8), np.float32), None, np.zeros((8, 8), bool), wcs=None, beam_area_pixels=1.0,  # type: ignore[arg-type]
                    frequency_hz=None)  # fmt: skip
