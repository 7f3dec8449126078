"""File naming shared by the readers, the writers and the flows (no astropy import)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["image_base_name"]


def image_base_name(path: str | Path) -> str:
    """File name without directory and FITS extension (``/d/tile_07.fits.gz`` → ``tile_07``)."""
    name = Path(path).name
    for suffix in (".fits.gz", ".fits.fz", ".fits", ".fit", ".fts", ".gz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem
