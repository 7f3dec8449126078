"""The fast paths give the answers of the straightforward code they replaced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from science.extract.artefacts import _near_brighter
from science.extract.background import _median_in_place
from science.extract.contour import trace_boundary
from science.io.text import write_json_records


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neighbour_sweep_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    xy = rng.uniform(0, 300, (n, 2))
    peak = rng.lognormal(0, 2, n) * rng.choice([-1, 1], n, p=[0.1, 0.9])
    elong = np.where(rng.random(n) < 0.5, 1.0, np.inf)
    radius, ratio = 25.0, 0.06
    dist2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    near = dist2 <= radius**2
    brighter = (peak[None, :] > 0) & (peak[:, None] < ratio * peak[None, :])
    expected = (near & brighter).any(axis=1) & (elong >= 1.5)
    np.testing.assert_array_equal(_near_brighter(xy, peak, elong, radius, ratio, 1.5), expected)


@pytest.mark.parametrize("n", [9, 10, 6400])
def test_median_in_place_equals_numpy_median(n: int) -> None:
    samples = np.random.default_rng(n).normal(size=(7, n)).astype(np.float32)
    expected = np.median(samples.astype(np.float64), axis=1)
    np.testing.assert_array_equal(_median_in_place(samples.copy(), n // 2), expected)


def _trace_reference(mask: np.ndarray) -> np.ndarray:
    """The tuple-indexed Moore tracing the list-based one replaced."""
    dirs = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
    ys, xs = np.nonzero(mask)
    padded = np.pad(mask, 1)
    start = (int(ys[0]) + 1, int(xs[0]) + 1)
    points, cur, back, first = [start], start, 4, None
    for _ in range(8 * int(mask.sum()) + 8):
        for k in range(1, 9):
            d = (back + k) % 8
            nxt = (cur[0] + dirs[d][0], cur[1] + dirs[d][1])
            if padded[nxt]:
                prev = (back + k - 1) % 8
                bg = (cur[0] + dirs[prev][0], cur[1] + dirs[prev][1])
                back = dirs.index((bg[0] - nxt[0], bg[1] - nxt[1]))
                break
        else:
            break
        if first is None:
            first = (nxt, back)
        elif cur == start and (nxt, back) == first:
            break
        cur = nxt
        points.append(cur)
    if len(points) > 1 and points[-1] == start:
        points.pop()
    return (np.asarray(points, dtype=np.int32) - 1)[:, ::-1]


@pytest.mark.parametrize("seed", range(6))
def test_trace_boundary_equals_reference(seed: int) -> None:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    blob = ndimage.gaussian_filter(rng.normal(size=(24, 31)), 2) > 0.02
    labels, _ = ndimage.label(blob)
    mask = labels == labels[np.nonzero(labels)][0]
    np.testing.assert_array_equal(trace_boundary(mask), _trace_reference(mask))
    single = np.zeros((3, 3), bool)
    single[1, 1] = True
    np.testing.assert_array_equal(trace_boundary(single), [[1, 1]])


@pytest.mark.parametrize("count", [0, 1, 3])
def test_json_records_parse_to_the_document(tmp_path: Path, count: int) -> None:
    head = {"metadata": {"version": "1", "tags": [], "nested": {"a": [1, 2.5]}}}
    records = [{"name": f"S{k}", "vertices": [[k, k + 1]], "x": k / 3} for k in range(count)]
    path = write_json_records(tmp_path / "c.json", head, "sources", iter(records))
    assert json.loads(path.read_text()) == {**head, "sources": records}
    no_head = write_json_records(tmp_path / "d.json", {}, "components", iter(records))
    assert json.loads(no_head.read_text()) == {"components": records}
