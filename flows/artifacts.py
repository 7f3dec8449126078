"""Artifacts shown on each run in the Prefect UI: the catalogue summary and an overlay picture.

The picture is rendered to PNG here (astropy + matplotlib, Agg backend) and embedded in a
markdown artifact, so the UI shows it without any file server.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from astropy.table import Table
from astropy.visualization import ImageNormalize, SqrtStretch
from PIL import Image as PILImage
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from science.extract.params import ExtractionParams
from science.io.fits import load_image

MAX_PIXELS = 640


def render_overlay_png(
    image_path: str | Path, catalogue: Table, *, params: ExtractionParams | None = None, dpi: int = 80
) -> bytes:
    """PNG of the image (sqrt stretch, binned to ≤ 1024 px) with a circle per island centroid; ``params``: the
    extraction's, whose beam and pixel size stand in for those the header lacks (as they did in the extraction)."""
    params = params or ExtractionParams()
    image = load_image(image_path, beam=params.user_beam(), pixel_arcsec=params.mappixsize)
    data = np.nan_to_num(np.asarray(image.data, dtype=np.float32))
    step = max(1, int(np.ceil(max(data.shape) / MAX_PIXELS)))
    ny, nx = (data.shape[0] // step) * step, (data.shape[1] // step) * step
    view = data[:ny, :nx].reshape(ny // step, step, nx // step, step).mean(axis=(1, 3))  # bin, keep sources
    figure = plt.figure(figsize=(view.shape[1] / dpi, view.shape[0] / dpi), dpi=dpi)
    axes = figure.add_axes((0, 0, 1, 1), projection=image.wcs[::step, ::step])
    median = float(np.median(view))
    sigma = 1.4826 * float(np.median(np.abs(view - median))) or 1.0
    norm = ImageNormalize(vmin=median, vmax=median + 25 * sigma, stretch=SqrtStretch(), clip=True)
    axes.imshow(view, origin="lower", cmap="inferno", norm=norm)
    if len(catalogue):
        x = np.asarray(catalogue["x"], dtype=float) / step
        y = np.asarray(catalogue["y"], dtype=float) / step
        axes.scatter(x, y, s=60, facecolors="none", edgecolors="cyan", linewidths=0.8)
    axes.set_axis_off()
    rendered = io.BytesIO()
    figure.savefig(rendered, format="png", dpi=dpi)
    plt.close(figure)
    # A 64-colour palette keeps the PNG small enough to embed in an artifact (~100-200 kB).
    small = io.BytesIO()
    PILImage.open(rendered).convert("RGB").quantize(colors=64).save(small, format="PNG", optimize=True)
    return small.getvalue()


def catalogue_rows(catalogue: Table, limit: int = 50) -> list[dict[str, Any]]:
    """The brightest islands as table rows (name, position, fluxes, size)."""
    if not len(catalogue):
        return []
    order = np.argsort(-np.asarray(catalogue["Smax(Jy/beam)"], dtype=float))[:limit]
    columns = ("name", "iauName", "x", "y", "Smax(Jy/beam)", "Stot(Jy/beam)", "npix")
    return [{c: _plain(catalogue[c][i]) for c in columns} for i in order]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def publish_extraction(
    image_path: str, catalogue: Table, key_prefix: str = "extraction", params: ExtractionParams | None = None
) -> None:
    """Create the catalogue-summary table and the overlay artifacts of one image (extracted with ``params``)."""
    name = Path(image_path).name
    create_table_artifact(
        key=f"{key_prefix}-catalogue",
        table=catalogue_rows(catalogue),
        description=f"{name}: {len(catalogue)} island(s); the 50 brightest",
    )
    png = base64.b64encode(render_overlay_png(image_path, catalogue, params=params)).decode()
    create_markdown_artifact(
        key=f"{key_prefix}-overlay",
        markdown=f"### {name}: {len(catalogue)} sources\n\n![sources on {name}](data:image/png;base64,{png})\n",
        description=f"{name} with the extracted sources",
    )
