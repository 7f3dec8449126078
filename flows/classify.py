"""``classify-catalog``: add a morphology class and its probability to a caesar catalogue (or an image's).

A thin layer over :mod:`science.classify`: load the model, classify, write the classified products
(:func:`science.io.classified.write_classified_products`) and publish the confusion matrix as a PNG
in a markdown artifact. With a truth table (a simulated image) the matrix is this image's; otherwise
it is the model's validation matrix from its stamp, said so in the title.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from science.classify.catalogue import ClassifiedCatalogue, classify_file, confusion_matrix
from science.classify.labels import CLASSES
from science.classify.model import OnnxScorer, SourceClassifier, make_stamp
from science.io.classified import load_classifier, write_classified_products
from science.io.truth import load_truth


def render_confusion_png(matrix: npt.ArrayLike, classes: Sequence[str], title: str, *, dpi: int = 100) -> bytes:
    """PNG of a confusion matrix (rows truth, columns predicted): counts, coloured by row fraction."""
    counts = np.asarray(matrix, dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    figure, axes = plt.subplots(figsize=(4.2, 3.8), dpi=dpi)
    axes.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    for (i, j), n in np.ndenumerate(counts):
        axes.text(
            j, i, f"{n}\n{frac[i, j]:.0%}", ha="center", va="center", color="white" if frac[i, j] > 0.6 else "black"
        )
    axes.set_xticks(range(len(classes)), classes)
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("truth")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    plt.close(figure)
    return out.getvalue()


def load_model(model: str | None = None, onnx: str | None = None) -> SourceClassifier:
    """The stamped model (default: the one shipped), or an external ONNX model with this code's stamp."""
    if onnx:
        stamp = make_stamp(model_version=f"onnx:{Path(onnx).name}", training={"external": onnx}, metrics={})
        return SourceClassifier(OnnxScorer(onnx), stamp)
    return load_classifier(model)


def confusion_of(classified: ClassifiedCatalogue, classifier: SourceClassifier, truth: str | None) -> tuple[Any, str]:
    """This image's matrix against ``truth``, or the model's stamped validation matrix (None if it has none)."""
    if truth:
        return confusion_matrix(load_truth(truth), classified), f"{classified.base}: classes vs truth"
    validation = classifier.stamp.get("metrics", {}).get("validation")
    if not validation:
        return None, ""
    version = classifier.stamp.get("model_version")
    return validation["confusion"][
        "matrix"
    ], f"model v{version}: held-out validation ({validation['n_sources']} sources)"


def classify_and_write(
    target: str, output_dir: str, *, model: str | None = None, onnx: str | None = None, truth: str | None = None
) -> dict[str, Any]:
    """Classify an image or catalogue, write the products and ``confusion-<base>.png``; returns a summary.

    Raises
    ------
    ScienceError
        For a bad image, catalogue, truth table or model (see :func:`science.classify.catalogue.classify_file`).
    """
    classifier = load_model(model, onnx)
    classified = classify_file(target, classifier)
    out = Path(output_dir)
    if classified.from_image:
        from science.io.catalogue import write_catalogue_products

        out.mkdir(parents=True, exist_ok=True)
        write_catalogue_products(classified.table, out, classified.base)
    files = write_classified_products(
        classified.table, classified.classes, out, classified.base, source_json=classified.source_json
    )
    matrix, title = confusion_of(classified, classifier, truth)
    if matrix is not None:
        png = out / f"confusion-{classified.base}.png"
        png.write_bytes(render_confusion_png(matrix, CLASSES, title))
        files["confusion"] = png
    labels = [str(c) for c in classified.classes["class"]]
    return {
        "target": target,
        "base": classified.base,
        "n_sources": len(labels),
        "class_counts": {c: labels.count(c) for c in CLASSES},
        "model_version": classifier.stamp.get("model_version"),
        "confusion": {"title": title, "classes": list(CLASSES), "matrix": np.asarray(matrix).tolist()}
        if title
        else None,
        "files": [str(p) for p in files.values()],
    }


@task(name="classify-sources")
def task_classify_and_write(
    target: str, output_dir: str, model: str | None, onnx: str | None, truth: str | None
) -> dict[str, Any]:
    return classify_and_write(target, output_dir, model=model, onnx=onnx, truth=truth)


def publish_classification(summary: dict[str, Any]) -> None:
    """Class counts as a table artifact, the confusion matrix as a PNG in a markdown artifact."""
    create_table_artifact(
        key="classification-counts",
        table=[{"class": c, "sources": n} for c, n in summary["class_counts"].items()],
        description=f"{summary['base']}: {summary['n_sources']} source(s), model v{summary['model_version']}",
    )
    confusion = summary["confusion"]
    if confusion is None:
        return
    png = base64.b64encode(render_confusion_png(confusion["matrix"], confusion["classes"], confusion["title"])).decode()
    create_markdown_artifact(
        key="classification-confusion",
        markdown=f"### {confusion['title']}\n\n![confusion matrix](data:image/png;base64,{png})\n",
        description=f"{summary['base']}: confusion matrix (rows truth, columns predicted)",
    )


@flow(name="classify-catalog")
def classify_catalogue(
    target: str,
    output_dir: str,
    model: str | None = None,
    onnx: str | None = None,
    truth: str | None = None,
) -> dict[str, Any]:
    """Classify the sources of a caesar catalogue (``catalog-<base>.dat``) or a FITS image.

    Writes ``catalog_classified-<base>.dat``/``.xml``, the classes into ``catalog-<base>.json`` and
    ``classification-summary.json`` under ``output_dir``; publishes class counts and the confusion PNG.
    """
    summary = task_classify_and_write(target, output_dir, model, onnx, truth)
    publish_classification(summary)
    Path(output_dir, "classification-summary.json").write_text(json.dumps(summary, indent=2))
    get_run_logger().info("%s: %s", summary["base"], summary["class_counts"])
    return summary
