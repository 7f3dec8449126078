"""Classifier model files and classified catalogues (caesar-style ``.dat``, caesar JSON, VOTable).

Model: ``<stem>.json`` (the stamp, :func:`science.classify.model.check_stamp`) beside ``<stem>.joblib``
(the estimator, with its SHA-256 recorded in the stamp). The stamp is checked before the estimator is
unpickled, and the estimator file's digest must match: only files this code wrote are unpickled.

Classified products for an image base name (next to caesar's own files):

- ``catalog_classified-<base>.dat``: caesar's 33 island columns (nested rows after their mother, as in
  ``catalog-<base>.dat``) plus ``class``, ``class_prob``, ``prob_compact``, ``prob_extended``,
  ``prob_spurious``, ``source_group`` and ``rgz_label``, in caesar's header style.
- ``catalog-<base>.json``: caesar's island JSON with ``class_label`` (``COMPACT``/``EXTENDED``/``SPURIOUS``)
  and ``class_score`` filled in each source and island, plus ``class_probs`` and ``rgz_label``.
- ``catalog_classified-<base>.xml``: a VOTable (astropy) of the ``.dat`` columns.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import astropy.units as u
import joblib
import numpy as np
from astropy.table import Table, hstack

from science.classify.errors import ModelError
from science.classify.features import flatten_sources
from science.classify.labels import CLASSES
from science.classify.model import CLASSIFIED_COLUMNS, SourceClassifier, check_stamp
from science.errors import InvalidCatalogueError

__all__ = [
    "DEFAULT_MODEL",
    "classified_paths",
    "load_classifier",
    "write_classified_products",
    "write_classifier",
]

logger = logging.getLogger(__name__)

#: The model trained by ``cirasa classify train`` and shipped in the repository.
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "classify" / "models" / "morphology.json"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_classifier(classifier: SourceClassifier, path: str | Path) -> Path:
    """Write ``<stem>.json`` and ``<stem>.joblib`` (compressed); returns the JSON path."""
    stamp_path = Path(path).with_suffix(".json")
    model_path = stamp_path.with_suffix(".joblib")
    stamp_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(classifier.scorer, model_path, compress=("xz", 6))
    stamp = {**classifier.stamp, "model_file": model_path.name, "model_sha256": _digest(model_path)}
    stamp_path.write_text(json.dumps(stamp, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return stamp_path


def load_classifier(path: str | Path | None = None, *, group_radius_beams: float = 3.0) -> SourceClassifier:
    """Read a model written by :func:`write_classifier` (default :data:`DEFAULT_MODEL`).

    Raises
    ------
    ModelError
        If a file is missing or unreadable, or the estimator's digest differs from the stamp's.
    ModelVersionError
        If the stamp does not match this code (checked before the estimator is read).
    """
    stamp_path = Path(path) if path is not None else DEFAULT_MODEL
    if stamp_path.suffix == ".joblib":
        stamp_path = stamp_path.with_suffix(".json")
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read classifier stamp {stamp_path}: {exc}") from exc
    if not isinstance(stamp, dict):
        raise ModelError(f"{stamp_path} is not a classifier stamp (a JSON object)")
    check_stamp(stamp, source=str(stamp_path))
    model_path = stamp_path.with_name(str(stamp.get("model_file", stamp_path.with_suffix(".joblib").name)))
    try:
        digest = _digest(model_path)
    except OSError as exc:
        raise ModelError(f"cannot read classifier model {model_path}: {exc}") from exc
    if digest != stamp.get("model_sha256"):
        raise ModelError(f"{model_path.name} does not match its stamp {stamp_path.name} (SHA-256 differs)")
    scorer = joblib.load(model_path)
    return SourceClassifier(scorer, stamp, group_radius_beams=group_radius_beams)


def classified_paths(out_dir: str | Path, base: str) -> dict[str, Path]:
    """File names of the classified products of image ``base``."""
    out = Path(out_dir)
    return {
        "classified_catalogue": out / f"catalog_classified-{base}.dat",
        "json": out / f"catalog-{base}.json",
        "votable": out / f"catalog_classified-{base}.xml",
    }


def _fmt(value: Any, precision: int) -> str:
    if isinstance(value, str | np.str_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    return f"{float(value):.{precision}g}"


def _write_dat(table: Table, path: Path) -> Path:
    names = table.colnames
    lines = [
        "#======== CAESAR RESULTS ======",
        "# This ascii file contains caesar's island columns plus a morphology class per source (cirasa).",
        "# class: compact, extended or spurious; class_prob: its probability; prob_<class>: every class;",
        "# source_group: islands forming one source (-1 for spurious); rgz_label: <n>C_<m>P of the group.",
        "#",
        "# " + "".join(f"{n}\t" for n in names),
    ]
    for row in table:
        lines.append("\t".join(_fmt(row[n], 6 if i < 9 else 8) for i, n in enumerate(names)))
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def _write_json(path: Path, classes: Table) -> Path:
    doc = json.loads(path.read_text(encoding="utf-8"))
    by_name = {str(r["name"]): r for r in classes}
    for source in doc.get("sources", []):
        row = by_name.get(str(source.get("name")))
        if row is None:
            continue
        label, score = str(row["class"]).upper(), float(row["class_prob"])
        extra = {
            "class_probs": {c: float(row[f"prob_{c}"]) for c in CLASSES},
            "rgz_label": str(row["rgz_label"]),
            "source_group": int(row["source_group"]),
        }
        source.update({"class_label": label, "class_score": score, **extra})
        for island in source.get("islands", []):
            island.update({"class_label": label, "class_score": score})
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def write_classified_products(
    table: Table,
    classes: Table,
    out_dir: str | Path,
    base: str,
    *,
    inputdata: Mapping[str, Any] | None = None,
    source_json: str | Path | None = None,
) -> dict[str, Path]:
    """Write the classified ``.dat``, JSON and VOTable of image ``base``; returns the files written.

    Parameters
    ----------
    table
        The island table (in memory, or read back from ``catalog-<base>.dat``).
    classes
        :meth:`SourceClassifier.classify` of that table (same rows, same order).
    out_dir, base
        Output directory and image base name.
    inputdata
        Image metadata for the JSON (see :func:`science.io.catalogue.write_island_json`).
    source_json
        caesar's ``catalog-<base>.json`` of a table read back from disk: copied and given the classes
        (otherwise the JSON is written from the table, without contours when it has none).

    Raises
    ------
    InvalidCatalogueError
        If ``classes`` does not have one row per source of ``table`` in the same order.
    """
    from science.io.catalogue import write_island_json

    flat = flatten_sources(table)
    if list(classes.colnames) != list(CLASSIFIED_COLUMNS) or list(classes["name"]) != [str(n) for n in flat["name"]]:
        raise InvalidCatalogueError("the classes must have the classifier's columns and one row per source, in order")
    caesar = [n for n in flat.colnames if n not in ("components", "contour")]
    merged = hstack([flat[caesar], Table(classes[list(CLASSIFIED_COLUMNS[1:])], copy=True)], join_type="exact")
    paths = classified_paths(out_dir, base)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    written = {"classified_catalogue": _write_dat(merged, paths["classified_catalogue"])}
    if source_json is not None and Path(source_json).is_file() and "contour" not in table.colnames:
        paths["json"].write_bytes(Path(source_json).read_bytes())
    else:
        write_island_json(_with_extras(table), paths["json"], inputdata=inputdata)
    written["json"] = _write_json(paths["json"], classes)
    _votable(merged, base).write(paths["votable"], format="votable", overwrite=True)
    written["votable"] = paths["votable"]
    logger.info("%s: classified %d source(s)", base, len(merged))
    return written


def _votable(table: Table, base: str) -> Table:
    """The classified table with caesar's ``name(unit)`` columns as ``name`` plus a unit (valid VOTable IDs)."""
    out = Table(table, copy=True)
    for name in table.colnames:
        if name.endswith(")") and "(" in name:
            short, unit = name[:-1].split("(", 1)
            out.rename_column(name, short)
            out[short].unit = u.Unit(unit, parse_strict="silent")
    out.meta["description"] = f"caesar island catalogue of {base} with morphology classes (cirasa)"
    return out


def _with_extras(table: Table) -> Table:
    """The table with the in-memory-only columns the JSON writer reads (empty when read back from a .dat)."""
    if all(c in table.colnames for c in ("contour", "edge", "components", "nested")):
        return table
    out = Table(table, copy=True)
    n = len(out)
    for name in ("contour", "components", "nested"):
        if name not in out.colnames:
            col = np.empty(n, dtype=object)
            for i in range(n):
                col[i] = np.empty((0, 2), np.int32) if name == "contour" else []
            out[name] = col
    if "edge" not in out.colnames:
        out["edge"] = np.zeros(n, bool)
    return out
