"""aligned_box_clipped: caesar's ClippedMedian boxes from sorted cells, against the per-box estimator."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from science.extract.boxclip import aligned_box_clipped
from science.extract.estimators import BkgEstimator, box_level_rms, estimator_grid
from science.extract.gridmaps import box_centres
from tests.science.test_boxstats import _image

F32 = npt.NDArray[np.float32]


def _per_box(block: F32, box: int, step: int, min_pixels: int = 10) -> tuple[np.ndarray, np.ndarray]:
    windows = sliding_window_view(block, (box, box))[::step, ::step]
    shape = windows.shape[:2]
    level, rms = box_level_rms(windows.reshape(-1, box * box), BkgEstimator.CLIPPED_MEDIAN, min_pixels)
    return level.reshape(shape), rms.reshape(shape)


def _with_blanks(block: F32, seed: int) -> F32:
    """NaN patches (masked sources), one of them covering whole boxes."""
    rng = np.random.default_rng(seed)
    out = block.copy()
    for y, x in rng.integers(0, min(block.shape) - 12, (12, 2)):
        out[y : y + 6, x : x + 9] = np.nan
    out[:50, :50] = np.nan
    return out


@pytest.mark.parametrize(("box", "step"), [(40, 8), (30, 10), (24, 8), (16, 8)])
@pytest.mark.parametrize("kind", ["normal", "rounded", "offset", "skewed", "gradient", "sources", "blanks"])
def test_boxes_equal_the_per_box_estimator(box: int, step: int, kind: str) -> None:
    shape = (9 * step + box, 11 * step + box)
    block = _with_blanks(_image("sources", shape, 3), 4) if kind == "blanks" else _image(kind, shape, 3)
    level, rms, ok = aligned_box_clipped(block, box, step)
    ref_level, ref_rms = _per_box(block, box, step)
    assert ok.mean() > 0.9  # the rest goes to the per-box path
    np.testing.assert_allclose(level[ok], ref_level[ok], rtol=1e-12, atol=0.0)
    np.testing.assert_allclose(rms[ok], ref_rms[ok], rtol=1e-9, atol=1e-12)
    if kind == "blanks":  # the all-blank corner boxes: no statistics, as the per-box path
        assert np.isnan(level[0, 0]) and np.isnan(ref_level[0, 0])


def test_clipping_reaches_the_noise_under_sources() -> None:
    rng = np.random.default_rng(7)
    block = rng.normal(2.0, 0.5, (200, 200)).astype(np.float32)
    block[rng.random(block.shape) < 0.05] += 40.0  # 5 % of the pixels far out
    level, rms, ok = aligned_box_clipped(block, 40, 8)
    assert ok.all()
    assert np.all(np.abs(level - 2.0) < 0.1) and np.all(np.abs(rms - 0.5) < 0.06)
    assert block[:40, :40].std() > 5.0  # what the clip removed


def test_chunks_and_threads_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    import science.extract.boxgrid as boxgrid

    block = _with_blanks(_image("sources", (30 * 8 + 40, 12 * 8 + 40), 5), 6)
    one = aligned_box_clipped(block, 40, 8, threads=1)
    monkeypatch.setattr(boxgrid, "CHUNK_ROWS", 7)
    many = aligned_box_clipped(block, 40, 8, threads=3)
    np.testing.assert_array_equal(one[2], many[2])
    for a, b in zip(one[:2], many[:2], strict=True):  # (sums of differently padded candidate rows: rounding)
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_boxes_it_hands_back_are_computed_per_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """With almost no room for candidates most boxes go back, and the grid is still the per-box one."""
    import science.extract.boxclip as boxclip

    data = _with_blanks(_image("gradient", (150, 170), 8), 9)
    box, step = 30, 10
    cy, cx = box_centres(150, box, step), box_centres(170, box, step)
    fast_level, fast_rms = estimator_grid(data, cy, cx, box, BkgEstimator.CLIPPED_MEDIAN, threads=2)
    monkeypatch.setattr(boxclip, "MAX_CANDIDATES", 2)
    _, _, ok = aligned_box_clipped(data[: (cy.size - 1) * step + box, : (cx.size - 1) * step + box], box, step)
    assert not ok.all()
    level, rms = estimator_grid(data, cy, cx, box, BkgEstimator.CLIPPED_MEDIAN)
    np.testing.assert_allclose(level, fast_level, rtol=1e-12)
    np.testing.assert_allclose(rms, fast_rms, rtol=1e-9)
    i, j = 4, 6  # and a box is the image's box
    patch = data[cy[i] - 15 : cy[i] + 15, cx[j] - 15 : cx[j] + 15]
    ref = box_level_rms(patch.reshape(1, -1), BkgEstimator.CLIPPED_MEDIAN)
    assert level[i, j] == pytest.approx(ref[0][0], rel=1e-12) and rms[i, j] == pytest.approx(ref[1][0], rel=1e-9)


def test_rejects_a_block_that_is_not_a_box_grid() -> None:
    with pytest.raises(ValueError, match="not a grid"):
        aligned_box_clipped(np.zeros((45, 48), np.float32), 40, 8)
