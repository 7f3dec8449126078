"""The background around one source (caesar ``Image::GetBkgInfoAroundSource``, for ``fit-usebkgboxestimate``).

The level and rms, by the image's background estimator (caesar ``bkgestimator``: Median → median and
1.4826·MAD, ClippedMedian → 3σ-clipped median and standard deviation, Mean → mean and standard deviation),
of the finite pixels in the source's bounding box grown by ``sourcebkgboxborder`` pixels on every side
(clipped to the image), leaving out the source's own pixels and, for an island, the pixels of every island
(a nested source's box keeps its mother's pixels, as caesar's). caesar returns nothing for BiWeight, and
its fit then uses the background maps; so does this.

caesar excludes the islands through a copy of the image with their pixels set to 0 and a test ``≤ 0``,
which drops every negative pixel as well (its level of pure noise is then about +0.67σ): the islands'
pixels are left out here, not the negative ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from science.extract.estimators import BkgEstimator, box_level_rms
from science.extract.islands import IslandPixels

__all__ = ["BoxBackground"]


@dataclass(frozen=True, eq=False)
class BoxBackground:
    """Boxes around the sources of ``data`` (a tile at ``origin`` of the full image); ``in_island`` marks the
    pixels of every island of ``data``."""

    data: npt.NDArray[np.floating]
    in_island: npt.NDArray[np.bool_]
    border: int = 20
    estimator: BkgEstimator = BkgEstimator.MEDIAN
    origin: tuple[int, int] = (0, 0)

    def around(self, source: IslandPixels, nested: bool = False) -> tuple[float, float] | None:
        """``(level, rms)`` around ``source`` (full-image pixel positions; ``nested``: a nested source), or
        None when the estimator has none (BiWeight, or no pixel left)."""
        if self.estimator is BkgEstimator.BIWEIGHT:
            return None
        ys = source.y.astype(np.intp) - self.origin[0]
        xs = source.x.astype(np.intp) - self.origin[1]
        ny, nx = self.data.shape
        y0, y1 = max(0, int(ys.min()) - self.border), min(ny, int(ys.max()) + self.border + 1)
        x0, x1 = max(0, int(xs.min()) - self.border), min(nx, int(xs.max()) + self.border + 1)
        box = np.array(self.data[y0:y1, x0:x1], dtype=np.float32)
        if nested:
            box[ys - y0, xs - x0] = np.nan
        else:
            box[self.in_island[y0:y1, x0:x1]] = np.nan
        sample = box[np.isfinite(box)]
        if sample.size == 0:
            return None
        level, rms = box_level_rms(sample[None], self.estimator, min_pixels=1)
        if not (np.isfinite(level[0]) and np.isfinite(rms[0]) and rms[0] > 0):
            return None
        return float(level[0]), float(rms[0])
