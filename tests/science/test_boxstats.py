"""aligned_box_stats: exact box medians and MADs against a brute-force partition of every box."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from science.extract.boxstats import _Bins, _sortable, aligned_box_stats

F32 = npt.NDArray[np.float32]


def _brute_force(block: F32, box: int, step: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """np.median of every box's pixels (float64 mean of the middle pair) and of |x − float32(median)|."""
    windows = sliding_window_view(block, (box, box))[::step, ::step]
    shape = windows.shape[:2]
    samples = windows.reshape(*shape, box * box).astype(np.float64)
    med = np.median(samples, axis=-1)
    dev = np.abs(windows.reshape(*shape, box * box) - med[..., None].astype(np.float32))
    return med, np.median(dev.astype(np.float64), axis=-1)


def _image(kind: str, shape: tuple[int, int], seed: int) -> F32:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, shape)
    if kind == "normal":
        data = noise
    elif kind == "rounded":  # heavy ties: a few distinct values per σ
        data = np.round(noise * 3.0) / 3.0
    elif kind == "integers":  # extreme ties
        data = np.round(noise * 100.0)
    elif kind == "offset":  # level far from zero (shifted bins), values spaced by the float32 resolution
        data = 5.0 + 1e-4 * rng.exponential(1.0, shape)
    elif kind == "skewed":
        data = rng.lognormal(0.0, 1.0, shape)
    elif kind == "gradient":  # the level changes by many σ across the image
        data = noise + np.linspace(0.0, 40.0, shape[1])[None, :]
    elif kind == "sources":  # bright compact sources on noise, a constant patch, signed zeros
        data = noise * 1e-3
        ys, xs = rng.integers(0, shape[0], 40), rng.integers(0, shape[1], 40)
        data[ys, xs] += rng.lognormal(0.0, 3.0, 40)
        data[: shape[0] // 4, : shape[1] // 4] = 0.0
        data[-8:, :] = -0.0
    else:
        raise AssertionError(kind)
    return data.astype(np.float32)


GEOMETRIES = [(40, 8), (21, 7), (9, 3), (80, 16), (16, 8), (30, 10), (8, 1), (5, 1)]  # even and odd box sizes
KINDS = ["normal", "rounded", "integers", "offset", "skewed", "gradient", "sources"]


@pytest.mark.parametrize(("box", "step"), GEOMETRIES)
@pytest.mark.parametrize("kind", KINDS)
def test_medians_and_mads_equal_a_full_partition(box: int, step: int, kind: str) -> None:
    ny, nx = 14 if box <= 40 else 7, 17 if box <= 40 else 9
    block = _image(kind, ((ny - 1) * step + box, (nx - 1) * step + box), seed=box + len(kind))
    med, mad, ok = aligned_box_stats(block, box, step, with_mad=True)
    ref_med, ref_mad = _brute_force(block, box, step)
    assert med.shape == mad.shape == ok.shape == (ny, nx)
    np.testing.assert_array_equal(med[ok], ref_med[ok])
    np.testing.assert_array_equal(mad[ok], ref_mad[ok])
    # The fast path, not the caller's fallback, produced (nearly) all of them; heavy ties may need the latter.
    if kind in {"normal", "gradient", "integers"}:
        assert ok.all()
    elif kind != "rounded":
        assert ok.mean() > 0.9


@pytest.mark.parametrize(("box", "step"), GEOMETRIES)
@pytest.mark.parametrize("kind", ["normal", "rounded", "sources"])
def test_medians_only_flag_positive_mads(box: int, step: int, kind: str) -> None:
    block = _image(kind, (9 * step + box, 11 * step + box), seed=3)
    med, mad, ok = aligned_box_stats(block, box, step, with_mad=False)
    ref_med, ref_mad = _brute_force(block, box, step)
    np.testing.assert_array_equal(med[ok], ref_med[ok])
    assert np.all(mad[ok] == np.inf) and np.all(ref_mad[ok] > 0) and np.isnan(mad[~ok]).all()
    if kind == "normal" and box * box > 100:
        assert ok.all()


def test_chunks_and_threads_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    import science.extract.boxgrid as boxgrid

    block = _image("sources", (40 * 8 + 40, 12 * 8 + 40), seed=5)
    one = aligned_box_stats(block, 40, 8, threads=1)
    monkeypatch.setattr(boxgrid, "CHUNK_ROWS", 7)
    many = aligned_box_stats(block, 40, 8, threads=3)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_bins_are_monotone_with_exact_edges(kind: str) -> None:
    sample = _image(kind, (60, 60), seed=7).ravel()
    bins = _Bins(sample, 128)
    edges = bins.edges
    finite = edges[np.isfinite(edges)]
    probes = np.concatenate(
        [sample, sample * np.float32(1.5), finite, np.nextafter(finite, np.float32(-np.inf)), [-0.0, 0.0, 1e30, -1e30]]
    ).astype(np.float32)
    keys = _sortable(probes)
    order = np.argsort(keys, kind="stable")
    assert np.all(np.diff(bins(probes[order])) >= 0)  # monotone (−0 before +0)
    # bin(x) ≥ j exactly when x ≥ edges[j] (in key order)
    np.testing.assert_array_equal(
        bins(probes)[:, None] >= np.arange(1, 128), keys[:, None] >= _sortable(edges[1:-1])[None, :]
    )


def test_rejects_a_block_that_is_not_a_box_grid() -> None:
    with pytest.raises(ValueError, match="not a grid"):
        aligned_box_stats(np.zeros((45, 48), np.float32), 40, 8)
