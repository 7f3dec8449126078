"""Pre-smoothing of the extended-source search image (caesar ``ComputeSmoothedImage``): guided or Gaussian filter.

Both filters are separable sums of shifted slices (no per-pixel Python, no FFT) with OpenCV's default
``BORDER_REFLECT_101`` edges (numpy ``"reflect"``):

- **guided** (caesar ``GetGuidedFilterImage``, He et al. 2013, self-guided): the image is scaled to
  [0, 1] by its minimum and maximum (caesar: [1, 256] with ``eps × 255²``, the same thing), then
  ``a = var / (var + eps)``, ``b = (1 − a)·mean`` over ``radius × radius`` boxes (``cv::blur(Size(r, r))``)
  and the output ``box(a)·I + box(b)``; returned in the [0, 1] units;
- **Gaussian** (caesar ``GetSmoothedImage``): ``gausFilterKernSize`` 5, ``gausFilterSigma`` 1 (caesar-rest
  does not expose them), in the image's units.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from science.errors import ParameterError

__all__ = ["bin_image", "box_mean", "gaussian_smooth", "guided_filter"]

F32 = npt.NDArray[np.float32]


def bin_image(data: F32, valid: npt.NDArray[np.bool_], factor: int) -> tuple[F32, npt.NDArray[np.bool_]]:
    """Mean of the valid pixels in ``factor × factor`` blocks (the last row/column of blocks may be partial)
    and whether a block has any; invalid pixels count as absent. ``factor = 1`` returns 0-filled copies."""
    everything = bool(valid.all())
    filled = data if everything else np.where(valid, data, np.float32(0)).astype(np.float32, copy=False)
    if factor == 1:
        return (filled.copy() if everything else filled), valid.copy()
    ny, nx = data.shape
    pad = ((0, -ny % factor), (0, -nx % factor))
    if pad != ((0, 0), (0, 0)):
        filled, valid, everything = np.pad(filled, pad), np.pad(valid, pad), False
    shape = (filled.shape[0] // factor, filled.shape[1] // factor)
    total = np.zeros(shape, np.float32)
    count = np.zeros(shape, np.uint8) if not everything else None
    for i in range(factor):
        for j in range(factor):
            total += filled[i::factor, j::factor]
            if count is not None:
                count += valid[i::factor, j::factor]
    if count is None:
        total *= np.float32(1.0 / factor**2)
        return total, np.ones(shape, bool)
    has = count > 0
    np.divide(total, count, out=total, where=has)
    return total, has


def _window(p: F32, start: int, length: int, axis: int) -> F32:
    return p[start : start + length] if axis == 0 else p[:, start : start + length]


def _box_sum_axis(x: F32, size: int, axis: int) -> F32:
    """Sum over ``size`` consecutive pixels along ``axis`` (anchor ``size // 2`` as OpenCV), by doubling."""
    n = x.shape[axis]
    before = size // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (before, size - 1 - before)
    cur = np.pad(x, pad, mode="reflect" if n > 1 else "edge")
    total: F32 | None = None
    offset, k = 0, 1
    while True:
        if size & k:
            part = _window(cur, offset, n, axis)
            total = part.copy() if total is None else np.add(total, part, out=total)
            offset += k
        if 2 * k > size:
            break
        length = cur.shape[axis] - k
        cur = _window(cur, 0, length, axis) + _window(cur, k, length, axis)
        k *= 2
    assert total is not None
    return total


def box_mean(x: F32, size: int) -> F32:
    """Mean over ``size × size`` boxes (``cv::blur``), float32."""
    if size < 1:
        raise ParameterError(f"box size must be ≥ 1, got {size}")
    out = _box_sum_axis(_box_sum_axis(np.asarray(x, np.float32), size, 0), size, 1)
    out *= np.float32(1.0 / (size * size))
    return out


def guided_filter(image: F32, radius: int, eps: float) -> F32:
    """Self-guided filter of ``image`` (finite pixels) in [0, 1] units (see the module doc)."""
    if radius < 1 or eps < 0:
        raise ParameterError(f"guided filter needs radius ≥ 1 and eps ≥ 0, got {radius}, {eps}")
    lo, hi = float(image.min()), float(image.max())
    u = (image - np.float32(lo)) * np.float32(1.0 / (hi - lo) if hi > lo else 0.0)
    mean = box_mean(u, radius)
    var = box_mean(u * u, radius)
    var -= mean * mean
    np.maximum(var, 0, out=var)
    denom = var + np.float32(eps)
    a = np.divide(var, denom, out=np.zeros_like(var), where=denom > 0)
    b = mean - a * mean
    out = box_mean(a, radius)
    out *= u
    out += box_mean(b, radius)
    return out


def gaussian_smooth(image: F32, *, size: int = 5, sigma: float = 1.0) -> F32:
    """Separable Gaussian blur with an odd ``size`` kernel (``cv::GaussianBlur``), float32."""
    if size < 1 or size % 2 == 0 or sigma <= 0:
        raise ParameterError(f"Gaussian kernel needs an odd size ≥ 1 and sigma > 0, got {size}, {sigma}")
    half = size // 2
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = np.asarray(image, np.float32)
    for axis in (0, 1):
        n = out.shape[axis]
        pad = [(0, 0), (0, 0)]
        pad[axis] = (half, half)
        p = np.pad(out, pad, mode="reflect" if n > half else "edge")
        acc = np.zeros(out.shape, np.float32)
        for k, w in enumerate(taps):
            acc += np.float32(w) * _window(p, k, n, axis)
        out = acc
    return out
