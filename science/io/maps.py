"""caesar's FITS maps of a run: ``out-<base>_bkg.fits``, ``out-<base>_rms.fits``, ``out-<base>_significance.fits``.

caesar (``SFinder::Save``) writes the background, noise and significance maps as FITS files when asked with
``save-fits`` and ``save-bkgmap`` / ``save-rmsmap`` / ``save-significancemap``; without ``save-fits`` they go
into its ROOT file, as do the input, saliency and segmented maps whatever ``save-fits`` says; the residual
map (``save-residualmap``, ``out-<base>_res.fits``) exists only when the extended search ran on it
(``computeresiduals``). This engine writes no ROOT file: :func:`map_kinds` turns caesar-rest's save options
into the FITS maps written and a note for every map asked for that is not.

:class:`MapFiles` are the full-size files, created empty and filled region by region, so a tiled run
writes each tile's core without holding a whole map (tiles of one image may fill them from several
processes: they write disjoint regions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from science.io.fits import ImageInfo

__all__ = ["MAP_KINDS", "MAP_OPTIONS", "MapFiles", "is_map_option", "map_file_name", "map_kinds"]

F32 = npt.NDArray[np.float32]

#: FITS maps this engine writes, by caesar's file suffix, with their caesar-rest ``save-…`` option.
MAP_KINDS = {
    "bkg": "save_bkgmap", "rms": "save_rmsmap", "significance": "save_significancemap", "res": "save_residualmap",
}  # fmt: skip
#: Maps caesar saves in its ROOT file only.
_NOT_WRITTEN = {
    "save_inputmap": "caesar saves the input map in its ROOT file only (not written by this engine)",
    "save_saliencymap": "caesar saves the saliency map in its ROOT file only (not written by this engine)",
    "save_segmentedmap": "caesar saves the segmented map in its ROOT file only (not written by this engine)",
}
_UNITS = {"bkg": "Jy/beam", "rms": "Jy/beam", "significance": "", "res": "Jy/beam"}
_STRIP_ROWS = 256


def _name(option: str) -> str:
    return option.strip().lstrip("-").replace("-", "_")


#: caesar-rest's options about saved maps (``-`` as ``_``).
MAP_OPTIONS = frozenset({"save_fits", *MAP_KINDS.values(), *_NOT_WRITTEN})


def is_map_option(option: str) -> bool:
    """Whether ``option`` (``save-fits``, ``--save-bkgmap``, ``save_rmsmap``…) is about saved maps."""
    return _name(option) in MAP_OPTIONS


def _on(value: object) -> bool:
    """A caesar-rest flag's value: given bare (None) or true."""
    return value is None or value is True or str(value).strip().lower() in {"true", "1", "yes", "on", ""}


def map_kinds(options: Mapping[str, object] | Iterable[str], *, residual: bool = False) -> tuple[list[str], list[str]]:
    """The FITS maps caesar-rest's save options ask for (kinds of :data:`MAP_KINDS`, in that order), and a
    note for each map option that writes nothing here. ``options`` are flags that are on, or a mapping of
    options to values (a flag is on given bare or true); options not about maps are ignored. ``residual``:
    the run computes the residual map (``computeresiduals`` with the extended search on)."""
    if isinstance(options, Mapping):
        asked = {_name(k) for k, v in options.items() if _on(v)}
    else:
        asked = {_name(o) for o in options}
    notes = [f"{option.replace('_', '-')}: {why}" for option, why in _NOT_WRITTEN.items() if option in asked]
    wanted = [kind for kind, option in MAP_KINDS.items() if option in asked]
    if "res" in wanted and not residual:
        wanted.remove("res")
        notes.append("save-residualmap: caesar has a residual map only with computeresiduals and the extended search")
    if wanted and "save_fits" not in asked:
        names = ", ".join(MAP_KINDS[k].replace("_", "-") for k in wanted)
        notes.append(f"{names}: without save-fits caesar saves maps in its ROOT file, which this engine does not write")
        return [], notes
    return wanted, notes


def map_file_name(base: str, kind: str) -> str:
    """caesar's file name of a map (``out-<base>_<kind>.fits``)."""
    return f"out-{base}_{kind}.fits"


@dataclass(frozen=True)
class MapFiles:
    """Full-size float32 FITS maps of one image, filled region by region; picklable (paths only)."""

    paths: tuple[tuple[str, str], ...]

    @classmethod
    def create(cls, info: ImageInfo, out_dir: str | Path, kinds: Iterable[str]) -> MapFiles:
        """Write every map of ``kinds`` as NaN with the image's celestial WCS and beam, strip by strip."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        ny, nx = info.shape
        paths = []
        for kind in kinds:
            if kind not in MAP_KINDS:
                raise ValueError(f"unknown map {kind!r}: one of {', '.join(MAP_KINDS)}")
            header = fits.Header({"SIMPLE": True, "BITPIX": -32, "NAXIS": 2, "NAXIS1": nx, "NAXIS2": ny})
            header.update(info.wcs.to_header())
            header["BUNIT"] = _UNITS[kind]
            header["BMAJ"] = info.beam.bmaj_arcsec / 3600.0
            header["BMIN"] = info.beam.bmin_arcsec / 3600.0
            header["BPA"] = info.beam.bpa_deg
            header["OBJECT"] = f"{info.name} {kind}"
            path = out / map_file_name(info.name, kind)
            stream = fits.StreamingHDU(path, header)
            try:
                blank = np.full((min(_STRIP_ROWS, ny), nx), np.nan, np.float32)
                for y in range(0, ny, _STRIP_ROWS):
                    stream.write(blank[: min(_STRIP_ROWS, ny - y)])
            finally:
                stream.close()
            paths.append((kind, str(path)))
        return cls(tuple(paths))

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.paths]

    def write(self, maps: dict[str, F32], y0: int, x0: int) -> None:
        """Put ``maps[kind]`` (a region of the image from pixel ``(y0, x0)``) into each file."""
        for kind, path in self.paths:
            region = maps[kind]
            with fits.open(path, mode="update", memmap=True) as hdul:
                hdul[0].data[y0 : y0 + region.shape[0], x0 : x0 + region.shape[1]] = region
