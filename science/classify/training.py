"""Reproducible training of the source classifier on simulated images with truth classes.

Each training image is :func:`science.simulate.simulate_image` with point sources, resolved sources,
doubles, diffuse blobs and sidelobe artefacts around bright sources (the simulator's truth ``class``
column), extracted with Gaussian fitting (:class:`~science.extract.extractor.SourceExtractor`), its
islands labelled by :class:`~science.classify.labels.IslandTruth`. Images are drawn from seeds: the
same :class:`TrainingSpec` gives the same features, labels and model. Benchmarks must use seeds outside
:attr:`TrainingSpec.seeds` and :attr:`TrainingSpec.validation_seeds`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from pydantic import BaseModel, ConfigDict, Field
from sklearn.ensemble import HistGradientBoostingClassifier

from science.classify.extraction import CLASSIFY_EXTRACTION
from science.classify.features import FEATURE_NAMES, build_features, flatten_sources
from science.classify.labels import CLASSES, IslandTruth
from science.classify.model import SourceClassifier, make_stamp
from science.errors import ParameterError
from science.extract.extractor import SourceExtractor
from science.extract.params import ExtractionParams
from science.simulate import simulate_image

__all__ = ["LabelledSet", "TrainingSpec", "build_training_set", "evaluate", "train_classifier"]

logger = logging.getLogger(__name__)


class TrainingSpec(BaseModel):
    """Which simulated images train (and validate) the model, and the estimator's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seeds: tuple[int, ...] = Field(tuple(range(1000, 1016)), min_length=1, description="Training image seeds.")
    validation_seeds: tuple[int, ...] = Field(
        tuple(range(2000, 2004)), description="Seeds of the images scored into the model's stamp."
    )
    size: int = Field(1024, ge=64, description="Image side, pixels.")
    n_sources: int = Field(150, ge=0, description="Point sources per image.")
    n_resolved: int = Field(30, ge=0, description="Resolved sources per image.")
    n_doubles: int = Field(15, ge=0, description="Double sources per image.")
    n_diffuse: int = Field(8, ge=0, description="Diffuse blobs per image.")
    sidelobe_levels: tuple[float, ...] = Field(
        (0.03, 0.05, 0.08), min_length=1, description="Sidelobe level of image k is entry k mod len."
    )
    rms_gradients: tuple[float, ...] = Field((0.0, 0.5), min_length=1, description="rms gradient, cycled likewise.")
    snr_max: float = Field(1000.0, gt=3, description="Largest peak S/N.")
    min_separation_beams: float = Field(3.0, gt=0, description="Minimum source separation, beams.")
    max_iter: int = Field(200, ge=1, description="Boosting iterations.")
    learning_rate: float = Field(0.1, gt=0, description="Boosting learning rate.")
    max_leaf_nodes: int = Field(15, ge=2, description="Leaves per tree.")
    min_samples_leaf: int = Field(10, ge=1, description="Samples per leaf.")
    l2_regularization: float = Field(0.1, ge=0, description="L2 regularisation of the leaf values.")
    random_state: int = Field(0, description="Estimator seed.")

    def simulation(self, index: int, seed: int) -> dict[str, Any]:
        """Keyword arguments of :func:`simulate_image` for the ``index``-th image with ``seed``."""
        return {
            "shape": (self.size, self.size),
            "n_sources": self.n_sources,
            "n_resolved": self.n_resolved,
            "n_doubles": self.n_doubles,
            "n_diffuse": self.n_diffuse,
            "sidelobe_level": self.sidelobe_levels[index % len(self.sidelobe_levels)],
            "rms_gradient": self.rms_gradients[index % len(self.rms_gradients)],
            "snr_max": self.snr_max,
            "min_separation_beams": self.min_separation_beams,
            "seed": seed,
            "name": f"train{seed}",
        }


#: Extraction used for training: the one used before classifying an image.
EXTRACTION = CLASSIFY_EXTRACTION


@dataclass(frozen=True, eq=False)
class LabelledSet:
    """Features, truth classes and bookkeeping of the islands of several simulated images."""

    features: npt.NDArray[np.float64]
    labels: npt.NDArray[np.str_]
    image: npt.NDArray[np.int64]
    #: ``log_bright_ratio > 1`` (a source ≥ 10× brighter within 10 beams): "near a bright source".
    near_bright: npt.NDArray[np.bool_]
    tables: tuple[Table, ...]
    truths: tuple[Table, ...]


def build_training_set(
    spec: TrainingSpec, seeds: Sequence[int], *, extraction: ExtractionParams = EXTRACTION
) -> LabelledSet:
    """Simulate, extract and label the images of ``seeds`` (in order).

    Raises
    ------
    ParameterError
        If ``seeds`` is empty or the images yield no island.
    """
    if not seeds:
        raise ParameterError("need at least one seed")
    extractor = SourceExtractor(extraction)
    feats, labels, image, tables, truths = [], [], [], [], []
    for k, seed in enumerate(seeds):
        sim, truth = simulate_image(**spec.simulation(k, int(seed)))
        table = flatten_sources(extractor.extract(sim))
        if len(table) == 0:
            continue
        feats.append(build_features(table))
        labels += IslandTruth(table, truth).classes
        image += [k] * len(table)
        tables.append(table)
        truths.append(truth)
        logger.debug("seed %d: %d islands", seed, len(table))
    if not feats:
        raise ParameterError(f"the images of seeds {list(seeds)} have no island")
    features = np.vstack(feats)
    return LabelledSet(
        features=features,
        labels=np.asarray(labels, dtype="U16"),
        image=np.asarray(image, np.int64),
        near_bright=features[:, FEATURE_NAMES.index("log_bright_ratio")] > 1.0,
        tables=tuple(tables),
        truths=tuple(truths),
    )


def evaluate(classifier: SourceClassifier, data: LabelledSet) -> dict[str, Any]:
    """Accuracy, per-class precision/recall, confusion matrix (rows truth, columns predicted, CLASSES order),
    compact-vs-extended accuracy and spurious recall near bright sources."""
    proba = classifier.predict_proba(data.features)
    pred = np.asarray([CLASSES[k] for k in np.argmax(proba, axis=1)])
    truth = data.labels
    matrix = np.array([[int(np.sum((truth == t) & (pred == p))) for p in CLASSES] for t in CLASSES])
    per_class = {}
    for k, name in enumerate(CLASSES):
        tp, col, row = matrix[k, k], matrix[:, k].sum(), matrix[k, :].sum()
        per_class[name] = {
            "precision": float(tp / col) if col else None,
            "recall": float(tp / row) if row else None,
            "support": int(row),
        }
    real = np.isin(truth, ("compact", "extended")) & np.isin(pred, ("compact", "extended"))
    artefacts = (truth == "spurious") & data.near_bright
    return {
        "n_sources": len(truth),
        "accuracy": float(np.mean(pred == truth)),
        "per_class": per_class,
        "confusion": {"classes": list(CLASSES), "matrix": matrix.tolist()},
        "compact_vs_extended_accuracy": float(np.mean(pred[real] == truth[real])) if real.any() else None,
        "compact_vs_extended_n": int(real.sum()),
        "artefact_near_bright_recall": float(np.mean(pred[artefacts] == "spurious")) if artefacts.any() else None,
        "artefact_near_bright_n": int(artefacts.sum()),
    }


def train_classifier(
    spec: TrainingSpec | None = None, *, model_version: str = "1", extraction: ExtractionParams = EXTRACTION
) -> tuple[SourceClassifier, dict[str, Any]]:
    """Train on ``spec.seeds``, score on ``spec.validation_seeds``; returns the classifier and its metrics.

    Raises
    ------
    ParameterError
        If a class is missing from the training islands or a seed is both training and validation.
    """
    spec = spec or TrainingSpec()
    if set(spec.seeds) & set(spec.validation_seeds):
        raise ParameterError("training and validation seeds must differ")
    train = build_training_set(spec, spec.seeds, extraction=extraction)
    absent = [c for c in CLASSES if c not in set(train.labels)]
    if absent:
        raise ParameterError(f"the training images hold no {', '.join(absent)} source; simulate more of them")
    estimator = HistGradientBoostingClassifier(
        max_iter=spec.max_iter,
        learning_rate=spec.learning_rate,
        max_leaf_nodes=spec.max_leaf_nodes,
        min_samples_leaf=spec.min_samples_leaf,
        l2_regularization=spec.l2_regularization,
        class_weight="balanced",
        early_stopping=False,
        random_state=spec.random_state,
    )
    estimator.fit(train.features, np.searchsorted(np.asarray(CLASSES), train.labels))
    counts = {c: int(np.sum(train.labels == c)) for c in CLASSES}
    training = {
        "spec": spec.model_dump(mode="json"),
        "n_sources": len(train.labels),
        "class_counts": counts,
    }
    stamp = make_stamp(model_version=model_version, training=training, metrics={}, extraction=extraction)
    classifier = SourceClassifier(estimator, stamp)
    metrics: dict[str, Any] = {"training": evaluate(classifier, train)}
    if spec.validation_seeds:
        metrics["validation"] = evaluate(
            classifier, build_training_set(spec, spec.validation_seeds, extraction=extraction)
        )
    classifier.stamp["metrics"] = metrics
    logger.info("trained on %d sources %s", len(train.labels), counts)
    return classifier, metrics
