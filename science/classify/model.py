"""SourceClassifier: a gradient-boosted tree model over :mod:`~science.classify.features`, with a version stamp.

A model is two files side by side: ``<name>.json``, the stamp (format and feature-schema version,
classes, scikit-learn version, the extraction settings of its training islands, how it was trained and
how well it did), and ``<name>.joblib``, the fitted :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
:func:`check_stamp` refuses a model made for another format, feature schema or scikit-learn minor version
**before** the estimator is unpickled; :func:`check_extraction` refuses one trained on islands extracted
with other settings than a catalogue's (:mod:`science.classify.extraction`); :mod:`science.io.classified`
reads and writes the files.

An external ONNX model (optional, needs ``onnxruntime``) takes the same ``float32`` feature matrix
``(n, len(FEATURE_NAMES))`` and returns class probabilities in :data:`~science.classify.labels.CLASSES`
order; see :class:`OnnxScorer`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import sklearn
from astropy.table import Table

from science.classify.errors import ExtractionMismatchError, ModelError, ModelVersionError
from science.classify.extraction import CLASSIFY_EXTRACTION, extraction_differences, extraction_record
from science.classify.features import FEATURE_NAMES, build_features, feature_schema, flatten_sources
from science.classify.labels import CLASSES, group_sources
from science.errors import ParameterError
from science.extract.params import ExtractionParams

__all__ = [
    "CLASSIFIED_COLUMNS",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "OnnxScorer",
    "Scorer",
    "SourceClassifier",
    "check_extraction",
    "check_stamp",
    "make_stamp",
]

logger = logging.getLogger(__name__)

MODEL_FORMAT = "cirasa-source-classifier"
#: 2: the stamp records every extraction setting (``extraction``); 1 recorded only non-default ones.
MODEL_FORMAT_VERSION = 2

#: Columns of :meth:`SourceClassifier.classify`'s output, in order.
CLASSIFIED_COLUMNS: tuple[str, ...] = (
    "name",
    "class",
    "class_prob",
    *(f"prob_{c}" for c in CLASSES),
    "source_group",
    "rgz_label",
)


class Scorer(Protocol):
    """Anything that turns a feature matrix into class probabilities (columns in :data:`CLASSES` order)."""

    def predict_proba(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def make_stamp(
    *,
    model_version: str,
    training: Mapping[str, Any],
    metrics: Mapping[str, Any],
    extraction: ExtractionParams = CLASSIFY_EXTRACTION,
) -> dict[str, Any]:
    """The stamp of a model trained now on islands extracted with ``extraction``, with this code's feature
    schema and scikit-learn."""
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "model_version": model_version,
        "feature_names": list(FEATURE_NAMES),
        "feature_schema": feature_schema(),
        "classes": list(CLASSES),
        "sklearn_version": sklearn.__version__,
        "extraction": extraction_record(extraction),
        "training": dict(training),
        "metrics": dict(metrics),
    }


def check_stamp(stamp: Mapping[str, Any], *, source: str = "model") -> None:
    """Refuse a stamp this code cannot use.

    Raises
    ------
    ModelError
        If it is not a classifier stamp.
    ModelVersionError
        If the format version, feature schema, classes or scikit-learn minor version differ; the message
        says what was found, what is needed, and to retrain with ``cirasa classify train``.
    """
    if stamp.get("format") != MODEL_FORMAT:
        raise ModelError(f"{source} is not a {MODEL_FORMAT} model (format {stamp.get('format')!r})")
    checks = (
        ("format version", stamp.get("format_version"), MODEL_FORMAT_VERSION),
        ("feature schema", stamp.get("feature_schema"), feature_schema()),
        ("feature names", stamp.get("feature_names"), list(FEATURE_NAMES)),
        ("classes", stamp.get("classes"), list(CLASSES)),
        ("scikit-learn version", _minor(str(stamp.get("sklearn_version", "?"))), _minor(sklearn.__version__)),
    )
    for what, found, needed in checks:
        if found != needed:
            raise ModelVersionError(
                f"{source} was made for {what} {found!r}, this code needs {needed!r}; "
                "retrain it with `cirasa classify train`",
                found=found,
                needed=needed,
            )
    record = stamp.get("extraction")
    if not isinstance(record, Mapping) or not isinstance(record.get("settings"), Mapping) or "digest" not in record:
        raise ModelVersionError(
            f"{source} does not record the extraction settings it was trained on; "
            "retrain it with `cirasa classify train`",
            found=record,
            needed="extraction settings and digest",
        )


def check_extraction(
    stamp: Mapping[str, Any], extraction: ExtractionParams, *, source: str = "model", what: str = "the catalogue"
) -> None:
    """Refuse a model trained on islands extracted otherwise than ``extraction`` (its features would differ).

    Raises
    ------
    ExtractionMismatchError
        Naming every differing setting (model value, catalogue value) and how to retrain.
    """
    differences = extraction_differences(stamp.get("extraction") or {}, extraction)
    if differences:
        raise ExtractionMismatchError(
            f"{source} was trained on islands extracted with other settings than {what} "
            f"({'; '.join(differences)}), so its features would not match; retrain it with "
            "`cirasa classify train` (or extract with the model's settings)",
            differences=differences,
        )


class SourceClassifier:
    """Classify the sources of an island table as compact / extended / spurious, with ``<n>C_<m>P`` labels.

    Parameters
    ----------
    scorer
        The fitted model (``predict_proba`` over :data:`FEATURE_NAMES`, classes in :data:`CLASSES` order).
    stamp
        Its stamp (checked with :func:`check_stamp`).
    group_radius_beams
        Islands whose components lie within this many beam FWHMs form one source for ``<n>C_<m>P``.

    Raises
    ------
    ModelVersionError
        If the stamp does not match this code.
    ParameterError
        If ``group_radius_beams`` is not positive.
    """

    def __init__(self, scorer: Scorer, stamp: Mapping[str, Any], *, group_radius_beams: float = 3.0) -> None:
        check_stamp(stamp)
        if not group_radius_beams > 0:
            raise ParameterError(f"group_radius_beams must be positive, got {group_radius_beams!r}")
        self.scorer = scorer
        self.stamp = dict(stamp)
        self.group_radius_beams = float(group_radius_beams)

    def __repr__(self) -> str:
        return (
            f"SourceClassifier(model_version={self.stamp.get('model_version')!r}, "
            f"group_radius_beams={self.group_radius_beams})"
        )

    @property
    def extraction(self) -> dict[str, Any]:
        """The stamp's record of the extraction settings of the training islands."""
        return dict(self.stamp["extraction"])

    def extraction_differences(self, extraction: ExtractionParams) -> list[str]:
        """The settings in which ``extraction`` differs from the training islands' (empty if none)."""
        return extraction_differences(self.stamp["extraction"], extraction)

    def check_extraction(self, extraction: ExtractionParams, *, what: str = "the catalogue") -> None:
        """Refuse to classify islands extracted with other settings than the training islands'.

        Raises
        ------
        ExtractionMismatchError
            Naming the differing settings.
        """
        check_extraction(self.stamp, extraction, source=f"model v{self.stamp.get('model_version')}", what=what)

    def predict_proba(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Class probabilities ``(n, 3)`` of a feature matrix.

        Raises
        ------
        ModelError
            If the model returns the wrong shape.
        """
        if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES):
            raise ParameterError(f"need an (n, {len(FEATURE_NAMES)}) feature matrix, got {features.shape}")
        proba = np.asarray(self.scorer.predict_proba(features), dtype=np.float64)
        if proba.shape != (len(features), len(CLASSES)):
            raise ModelError(f"the model returned probabilities of shape {proba.shape}, expected {(len(features), 3)}")
        return proba

    def classify(self, table: Table, components: Table | None = None) -> Table:
        """One row per source of ``table`` (nested sources after their mother): columns :data:`CLASSIFIED_COLUMNS`.

        Parameters
        ----------
        table
            Island table (in memory or read back from ``catalog-<base>.dat``).
        components
            The component table (``catalog_fitcomp-<base>.dat``), when the islands are not in memory.

        Raises
        ------
        EmptyCatalogueError, MissingColumnsError
            For an empty catalogue or one without the needed columns.
        """
        table = flatten_sources(table)
        features = build_features(table, components)
        if not np.isfinite(features[:, FEATURE_NAMES.index("log_area_ratio")]).any():
            logger.warning("no fitted components: classifying from island shapes only (less reliable)")
        proba = self.predict_proba(features)
        best = np.argmax(proba, axis=1)
        classes = [CLASSES[k] for k in best]
        groups, labels = group_sources(
            table, classes, components=components, group_radius_beams=self.group_radius_beams
        )
        out = Table()
        out["name"] = np.asarray(table["name"]).astype(str)
        out["class"] = np.asarray(classes, dtype="U16")
        out["class_prob"] = proba[np.arange(len(best)), best]
        for k, name in enumerate(CLASSES):
            out[f"prob_{name}"] = proba[:, k]
        out["source_group"] = groups
        out["rgz_label"] = np.asarray(labels, dtype="U16")
        return out


class OnnxScorer:
    """An external ONNX model run with onnxruntime: input ``float32 (n, len(FEATURE_NAMES))``.

    The output used is the first one of shape ``(n, 3)`` (probabilities in :data:`CLASSES` order), or,
    for scikit-learn conversions (skl2onnx), the ``probabilities`` map/tensor output.

    Raises
    ------
    ModelError
        If onnxruntime is not installed or the file cannot be loaded.
    """

    def __init__(self, path: str) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise ModelError("an ONNX model needs the onnxruntime package, which is not installed") from exc
        try:
            self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        except (RuntimeError, OSError, ValueError) as exc:  # onnxruntime's errors derive from RuntimeError
            raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc
        self.input_name = self.session.get_inputs()[0].name

    def predict_proba(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        outputs = self.session.run(None, {self.input_name: features.astype(np.float32)})
        for out in outputs:
            if isinstance(out, list) and out and isinstance(out[0], dict):  # skl2onnx ZipMap
                return np.array([[row[k] for k in sorted(row)] for row in out], dtype=np.float64)
            arr = np.asarray(out)
            if arr.ndim == 2 and arr.shape == (len(features), len(CLASSES)) and arr.dtype.kind == "f":
                return arr.astype(np.float64)
        raise ModelError(f"the ONNX model has no (n, {len(CLASSES)}) probability output")
