"""DS9 regions in sky coordinates (caesar ``convertregionstowcs`` with ``regionwcs``).

caesar writes the region files' third line as the sky frame (``fk5`` for J2000, ``fk4`` for B1950,
``galactic``) and then, for islands, the contour pixels' sky positions in degrees with 4 decimals
(``AstroUtils::ContourToDS9Region``), and for fitted components the ellipse converted by
``AstroUtils::PixelToWCSEllipseSimple`` (caesar's default ``useSimpleWCSEllipseConversion``): the centre's
sky position, the semi-axes as the Euclidean distance in degrees between the sky positions of the centre
and of the axis ends, and the angle ``180 − θ``, printed as C++ streams print doubles (6 significant
digits). Sky positions are those of the catalogues' ``*_wcs`` columns (pixel centres 0-based), then
transformed to the requested frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from astropy.wcs import WCS

__all__ = ["REGION_FRAMES", "SkyRegions", "region_frame"]

#: caesar-rest ``regionwcs`` values (and caesar's numbers) → DS9 frame names.
REGION_FRAMES = {"J2000": "fk5", "B1950": "fk4", "GALACTIC": "galactic"}
_NUMBERS = {"0": "J2000", "1": "B1950", "2": "GALACTIC"}


def region_frame(value: object) -> str:
    """``regionwcs`` as one of :data:`REGION_FRAMES` (names in any case, or caesar's 0, 1, 2)."""
    text = str(value).strip().upper()
    text = _NUMBERS.get(text, text)
    if text not in REGION_FRAMES:
        raise ValueError(f"must be one of {', '.join(REGION_FRAMES)} (or caesar's 0, 1, 2), got {value!r}")
    return text


@dataclass(frozen=True, eq=False)
class SkyRegions:
    """Pixel → sky conversion of the region files for an image's celestial WCS and a ``regionwcs`` frame."""

    wcs: WCS
    system: str = "J2000"

    @property
    def frame_line(self) -> str:
        return REGION_FRAMES[self.system]

    def to_sky(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Sky longitude and latitude (degrees, in ``system``) of 0-based pixel positions."""
        from astropy.coordinates import FK4, FK5, Galactic, SkyCoord
        from astropy.wcs.utils import wcs_to_celestial_frame

        lon, lat = self.wcs.wcs_pix2world(np.atleast_1d(x), np.atleast_1d(y), 0)
        coords = SkyCoord(lon, lat, unit="deg", frame=wcs_to_celestial_frame(self.wcs))
        target = {"J2000": FK5(equinox="J2000"), "B1950": FK4(equinox="B1950"), "GALACTIC": Galactic()}[self.system]
        sky = coords.transform_to(target)
        if self.system == "GALACTIC":
            return np.asarray(sky.l.deg, float), np.asarray(sky.b.deg, float)
        return np.asarray(sky.ra.deg, float), np.asarray(sky.dec.deg, float)

    def polygon(self, contour: npt.ArrayLike) -> str:
        """``polygon lon lat …`` of the contour pixels (cast to integers, as caesar), 4 decimals, trailing space."""
        pts = np.asarray(contour, np.int64).reshape(-1, 2)
        lon, lat = self.to_sky(pts[:, 0], pts[:, 1])
        return "polygon " + "".join(f"{a:.4f} {b:.4f} " for a, b in zip(lon, lat, strict=True))

    def ellipse(self, x: float, y: float, r1: float, r2: float, theta_deg: float) -> str:
        """``ellipse lon lat R1 R2 θ`` of a pixel ellipse (semi-axes ``r1``, ``r2``; θ from the x axis)."""
        t = math.radians(theta_deg)
        xs = [x, x + r1 * math.cos(t), x + r2 * math.cos(t - math.pi / 2)]
        ys = [y, y + r1 * math.sin(t), y + r2 * math.sin(t - math.pi / 2)]
        lon, lat = self.to_sky(xs, ys)
        semi_major = math.hypot(lon[0] - lon[1], lat[0] - lat[1])
        semi_minor = math.hypot(lon[0] - lon[2], lat[0] - lat[2])
        return f"ellipse {lon[0]:g} {lat[0]:g} {semi_major:g} {semi_minor:g} {180.0 - theta_deg:g}"
