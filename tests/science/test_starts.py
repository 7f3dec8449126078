"""Vectorised seed peaks and moment start values equal a one-island-at-a-time reference."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from science.extract.gaussian import gaussian_model
from science.extract.islands import IslandPixels
from science.extract.starts import island_seeds, moment_starts

BEAM = (1.7, 1.5, 0.3)


def _reference_peaks(
    isl: IslandPixels, kernels: tuple[int, ...], multiplicity: int, zthr: float, kmax: int, tol: int = 2
) -> list[tuple[float, float, float]]:
    """Peaks of each kernel on the island alone; the smallest kernel's peaks matched to the others' by distance."""
    xi, yi = isl.x.astype(int), isl.y.astype(int)
    x0, y0 = xi.min(), yi.min()
    grid = np.full((yi.max() - y0 + 1, xi.max() - x0 + 1), -np.inf)
    grid[yi - y0, xi - x0] = isl.value
    found = []
    for kernel in sorted(kernels):
        local = ndimage.maximum_filter(grid, size=kernel, mode="constant", cval=-np.inf)
        found.append(np.flatnonzero(isl.value >= local[yi - y0, xi - x0]))
    need = len(kernels) if multiplicity < 0 else min(multiplicity, len(kernels))
    base = [
        i
        for i in found[0]
        if sum(bool(np.any(np.hypot(isl.x[f] - isl.x[i], isl.y[f] - isl.y[i]) <= tol)) for f in found) >= need
    ]
    idx = np.array([i for i in base if isl.z[i] >= zthr], dtype=int)
    idx = idx[np.argsort(-isl.value[idx], kind="stable")][:kmax]
    if idx.size == 0:
        idx = np.array([int(np.argmax(isl.value))])
    return [(float(isl.value[i]), float(isl.x[i]), float(isl.y[i])) for i in idx]


def _reference_moments(isl: IslandPixels) -> np.ndarray:
    w = np.clip(isl.value, 0.0, None)
    amp = float(isl.value.max())
    if w.sum() <= 0:
        return np.array([amp, isl.x.mean(), isl.y.mean(), *BEAM])
    xc, yc = np.average(isl.x, weights=w), np.average(isl.y, weights=w)
    cxx = np.average((isl.x - xc) ** 2, weights=w)
    cyy = np.average((isl.y - yc) ** 2, weights=w)
    cxy = np.average((isl.x - xc) * (isl.y - yc), weights=w)
    evals, evecs = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
    theta = math.atan2(evecs[1, 1], evecs[0, 1])
    frac = min(max(float(isl.value.min()) / amp, 1e-3), 0.9)
    lnf = -math.log(frac)
    shrink = math.sqrt(max(1.0 - lnf * frac / (1.0 - frac), 0.05))
    smaj = max(math.sqrt(max(evals[1], 1e-6)) / shrink, BEAM[0])
    smin = max(math.sqrt(max(evals[0], 1e-6)) / shrink, BEAM[1])
    return np.array([amp, xc, yc, smaj, smin, theta])


def _random_islands(n: int, seed: int) -> list[IslandPixels]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        size = int(rng.integers(2, 40))
        yy, xx = np.mgrid[0:size, 0:size].astype(float)
        ncomp = int(rng.integers(1, 4))
        params = np.concatenate(
            [
                [
                    rng.uniform(0.5, 2),
                    rng.uniform(0, size),
                    rng.uniform(0, size),
                    *rng.uniform(0.8, 5, 2),
                    rng.uniform(0, 3),
                ]
                for _ in range(ncomp)
            ]
        )
        value = gaussian_model(params, xx.ravel(), yy.ravel()) + rng.normal(0, 0.02, size * size)
        if rng.random() < 0.2:
            value = np.round(value, 1)  # ties between neighbouring pixels
        keep = value > rng.uniform(0.0, 0.3) * value.max()
        if not keep.any():
            keep[0] = True
        off = rng.integers(0, 4000, 2).astype(float)
        v = value[keep]
        out.append(
            IslandPixels(xx.ravel()[keep] + off[0], yy.ravel()[keep] + off[1], v, np.full(v.size, 0.02), v / 0.02)
        )
    return out


def test_seeds_equal_the_one_island_reference() -> None:
    islands = _random_islands(300, seed=1)
    cases = (((7,), 1, 1.0, 3), ((3,), 1, 20.0, 2), ((5,), 1, 1e9, 1), ((3, 5, 7), 1, 1.0, 3), ((3, 5, 7), -1, 1.0, 3))
    for kernels, multiplicity, zthr, kmax in (*cases, ((3, 5, 7), 2, 1.0, 2)):
        seeds = island_seeds(islands, kernels=kernels, multiplicity=multiplicity, zthr=zthr, max_components=kmax)
        for g, isl in enumerate(islands):
            assert seeds.of(g) == _reference_peaks(isl, kernels, multiplicity, zthr, kmax)


def test_a_close_double_gets_two_seeds_with_caesar_kernels() -> None:
    """The fainter peak of a close double (5.7 px) is a 3×3 maximum, not a 5×5 or 7×7 one (the brighter wing reaches it)."""
    yy, xx = np.mgrid[0:24, 0:24].astype(float)
    params = np.array([232.0, 14.0, 9.0, 1.7, 1.7, 0.0, 71.0, 10.0, 13.0, 1.7, 1.7, 0.0])
    value = gaussian_model(params, xx.ravel(), yy.ravel())
    keep = value > 2.6
    isl = IslandPixels(xx.ravel()[keep], yy.ravel()[keep], value[keep], np.ones(keep.sum()), value[keep])
    caesar = island_seeds([isl], kernels=(3, 5, 7), zthr=1.0, max_components=3).of(0)
    assert [(x, y) for _, x, y in caesar] == [(14.0, 9.0), (10.0, 13.0)]
    every_kernel = island_seeds([isl], kernels=(3, 5, 7), multiplicity=-1, zthr=1.0, max_components=3).of(0)
    assert [(x, y) for _, x, y in every_kernel] == [(14.0, 9.0)]


def test_moment_starts_equal_the_reference_up_to_the_axis_direction() -> None:
    islands = _random_islands(200, seed=2)
    got = moment_starts(islands, BEAM)
    for g, isl in enumerate(islands):
        ref = _reference_moments(isl)
        np.testing.assert_allclose(got[g, :5], ref[:5], rtol=1e-9, atol=1e-9)
        # θ of an ellipse is defined modulo π; a circular island has no direction at all.
        if abs(ref[3] - ref[4]) > 1e-6:
            assert math.isclose(math.cos(2 * (got[g, 5] - ref[5])), 1.0, abs_tol=1e-9)


def test_island_without_positive_pixels_starts_at_its_mean_position_with_the_beam() -> None:
    isl = IslandPixels(np.array([3.0, 4.0]), np.array([5.0, 5.0]), np.array([-1.0, -2.0]), np.ones(2), np.ones(2))
    np.testing.assert_allclose(moment_starts([isl], BEAM)[0], [-1.0, 3.5, 5.0, *BEAM])
