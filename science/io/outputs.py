"""What a job writes besides the catalogues: caesar's FITS maps and the sky frame of its region files.

One reading of the image's header serves both (:meth:`JobOutputs.plan`), for ``cirasa extract``, the
extract-image flow and the survey's per-image work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from science.io.fits import load_image_info
from science.io.maps import MapFiles, map_kinds

if TYPE_CHECKING:
    from science.extract.params import ExtractionParams
    from science.io.sky_regions import SkyRegions

__all__ = ["JobOutputs"]


@dataclass(frozen=True)
class JobOutputs:
    """The FITS maps to fill (None: none asked for), the region files' sky conversion (None: image
    coordinates) and a note for every map option that writes nothing."""

    maps_to: MapFiles | None
    sky: SkyRegions | None
    notes: tuple[str, ...] = ()

    @classmethod
    def plan(
        cls,
        image: str | Path,
        params: ExtractionParams,
        out_dir: str | Path,
        save: Mapping[str, object] | Iterable[str] = (),
    ) -> JobOutputs:
        """Create the maps caesar-rest's ``save`` options ask for (empty, in ``out_dir``) and the sky frame
        ``params`` asks for (``convertregionstowcs``)."""
        info = load_image_info(image, beam=params.user_beam(), region=params.subimage(), pixel_arcsec=params.mappixsize)
        kinds, notes = map_kinds(save, residual=params.computeresiduals and params.extendedsearch)
        maps_to = MapFiles.create(info, out_dir, kinds) if kinds else None
        # a sub-image's maps are its own (as caesar's), its regions in the whole image's pixels and WCS
        whole = (
            info
            if info.offset == (0, 0)
            else load_image_info(image, beam=params.user_beam(), pixel_arcsec=params.mappixsize)
        )
        return cls(maps_to, params.sky_regions(whole.wcs), tuple(notes))

    @property
    def map_paths(self) -> list[str]:
        return [path for _, path in self.maps_to.paths] if self.maps_to is not None else []
