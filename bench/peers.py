"""The peers of the extraction benchmark, each as a worker process runs it: sep, photutils, Aegean.

Each reads the FITS image, finds sources at 5σ on its own background and noise maps, and writes
``<finder>.csv`` (x, y, peak, flux in Jy) and every 64th pixel of its noise map (``<finder>_rms.npy``);
Aegean also its whole background and noise maps.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MAPS_FILE", "RMS_STEP", "run_aegean", "run_photutils", "run_sep"]

RMS_STEP = 64
#: Aegean's whole background and noise maps (BANE's), float32 .npy in its output folder.
MAPS_FILE = "aegean_{kind}_full.npy"


def _write_csv(path: Path, x: Any, y: Any, peak: Any, flux: Any) -> None:
    rows = np.column_stack([np.asarray(v, float) for v in (x, y, peak, flux)]).reshape(-1, 4)
    np.savetxt(path, rows, delimiter=",", header="x,y,peak_jy,flux_jy", comments="")


def _beam_area_pixels(header: Any) -> float:
    pix = math.sqrt(abs(header["CDELT1"] * header["CDELT2"]))
    return float(math.pi * header["BMAJ"] * header["BMIN"] / (4 * math.log(2)) / pix**2)


def _save_rms(out: Path, finder: str, rms: Any) -> None:
    """Every 64th pixel of the finder's own noise map (for its noise scale; negligible in the timing)."""
    np.save(out / f"{finder}_rms.npy", np.asarray(rms[::RMS_STEP, ::RMS_STEP], dtype=np.float64))


def run_sep(image: Path, out: Path) -> None:
    import sep
    from astropy.io import fits

    with fits.open(image, memmap=True) as hdul:
        data = np.ascontiguousarray(hdul[0].data, dtype=np.float32)
        area = _beam_area_pixels(hdul[0].header)
    bkg = sep.Background(data, bw=64, bh=64)
    sub = data - bkg.back()
    sep.set_extract_pixstack(5_000_000)
    # No smoothing kernel: the image is already beam-smoothed, and sep compares the filtered image with the
    # unfiltered rms, which on correlated noise gives thousands of false detections.
    rms = bkg.rms()
    objs = sep.extract(sub, 5.0, err=rms, minarea=5, filter_kernel=None)
    _save_rms(out, "sep", rms)
    _write_csv(out / "sep.csv", objs["x"], objs["y"], objs["peak"], objs["flux"] / area)


def run_photutils(image: Path, out: Path) -> None:
    from astropy.io import fits
    from photutils.background import Background2D, MedianBackground
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources

    with fits.open(image, memmap=True) as hdul:
        data = np.asarray(hdul[0].data, dtype=np.float32)
        area = _beam_area_pixels(hdul[0].header)
    bkg = Background2D(data, (80, 80), filter_size=(3, 3), bkg_estimator=MedianBackground())
    sub = data - bkg.background
    segm = detect_sources(sub, 5.0 * bkg.background_rms, n_pixels=5)
    segm = deblend_sources(sub, segm, n_pixels=5, progress_bar=False)
    cat = SourceCatalog(sub, segm)
    _write_csv(out / "photutils.csv", cat.xcentroid, cat.ycentroid, cat.max_value, cat.segment_flux / area)
    _save_rms(out, "photutils", bkg.background_rms)


def run_aegean(image: Path, out: Path) -> None:
    import logging

    from AegeanTools.source_finder import SourceFinder
    from astropy.io import fits
    from astropy.wcs import WCS

    if not hasattr(np.linalg, "linalg"):
        # AegeanTools' fitting names ``np.linalg.linalg.LinAlgError`` in an except clause, a module numpy 2 no
        # longer has: a fit that raises would end the whole run with an AttributeError instead of being caught.
        setattr(np.linalg, "linalg", np.linalg)  # noqa: B010
    logging.getLogger().setLevel(logging.ERROR)
    finder = SourceFinder(log=logging.getLogger("aegean"))
    found = finder.find_sources_in_image(str(image), innerclip=5, outerclip=4, cores=1, progress=False)
    wcs = WCS(fits.getheader(image)).celestial
    ra = np.array([s.ra for s in found], float)
    dec = np.array([s.dec for s in found], float)
    x, y = wcs.wcs_world2pix(ra, dec, 0) if len(found) else (np.empty(0), np.empty(0))
    peak = [s.peak_flux for s in found]
    _write_csv(out / "aegean.csv", x, y, peak, [s.int_flux for s in found])
    _save_rms(out, "aegean", finder.rmsimg)
    # Its whole maps too, for this engine run on Aegean's noise estimate (bench.extraction's cirasa_on_aegean_maps).
    np.save(out / MAPS_FILE.format(kind="bkg"), np.asarray(finder.bkgimg, dtype=np.float32))
    np.save(out / MAPS_FILE.format(kind="rms"), np.asarray(finder.rmsimg, dtype=np.float32))
