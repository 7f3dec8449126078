"""Classify what a user gives: a FITS image (extracted first, with fitting) or a caesar island catalogue.

A catalogue ``catalog-<base>.dat`` is read with, when they lie beside it, ``catalog_fitcomp-<base>.dat``
(fitted components: the model's shape features) and ``catalog-<base>.json`` (given the classes).

An image is only extracted with the settings the model was trained on (else
:class:`~science.classify.errors.ExtractionMismatchError`, before extracting); a catalogue's settings
are not in its files, so when the caller knows them (``catalogue_extraction``) a difference is logged
as a warning and the catalogue is classified anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.table import Table

from science.classify.errors import EmptyCatalogueError
from science.classify.extraction import CLASSIFY_EXTRACTION
from science.classify.features import flatten_sources
from science.classify.labels import CLASSES, IslandTruth
from science.classify.model import SourceClassifier
from science.extract.extractor import extract_file
from science.extract.params import ExtractionParams
from science.io.catalogue import read_island_catalogue
from science.io.components import read_component_catalogue
from science.io.fits import image_base_name

__all__ = ["CLASSIFY_EXTRACTION", "FITS_SUFFIXES", "ClassifiedCatalogue", "classify_file", "confusion_matrix"]

logger = logging.getLogger(__name__)

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz")


@dataclass(frozen=True, eq=False)
class ClassifiedCatalogue:
    """A classified catalogue: the islands, their components (read from disk, or None), the classes."""

    base: str
    table: Table
    components: Table | None
    classes: Table
    source_json: Path | None
    from_image: bool


def _catalogue_base(path: Path) -> str:
    name = path.name
    stem = name[: -len(path.suffix)] if path.suffix else name
    return stem.removeprefix("catalog-")


def classify_file(
    path: str | Path,
    classifier: SourceClassifier,
    *,
    extraction: ExtractionParams = CLASSIFY_EXTRACTION,
    catalogue_extraction: ExtractionParams | None = None,
) -> ClassifiedCatalogue:
    """Classify the sources of a FITS image (after extraction) or of a caesar island catalogue.

    Parameters
    ----------
    extraction
        Settings an image is extracted with; they must be the model's.
    catalogue_extraction
        Settings a catalogue was extracted with, when known: a warning names those that differ from
        the model's.

    Raises
    ------
    ExtractionMismatchError
        If an image would be extracted with other settings than the model's training islands.
    InvalidImageError
        If an image cannot be used.
    InvalidCatalogueError
        If a catalogue cannot be parsed (:class:`EmptyCatalogueError` when it, or the image, has no source;
        :class:`MissingColumnsError` when columns are missing).
    """
    p = Path(path)
    if p.name.lower().endswith(FITS_SUFFIXES):
        classifier.check_extraction(extraction, what=f"this extraction of {p.name}")
        table = extract_file(p, extraction)
        if len(table) == 0:
            raise EmptyCatalogueError(f"{p.name}: the extraction found no source to classify")
        classes = classifier.classify(table)
        return ClassifiedCatalogue(image_base_name(p), table, None, classes, None, True)
    base = _catalogue_base(p)
    if catalogue_extraction is not None and (differences := classifier.extraction_differences(catalogue_extraction)):
        logger.warning(
            "%s was extracted with other settings than the model's training islands (%s): its classes may be "
            "less reliable; retrain with `cirasa classify train` for these settings",
            p.name,
            "; ".join(differences),
        )
    table = read_island_catalogue(p)
    if len(table) == 0:
        raise EmptyCatalogueError(f"{p.name} has no sources to classify")
    fitcomp = p.with_name(f"catalog_fitcomp-{base}.dat")
    components = read_component_catalogue(fitcomp) if fitcomp.is_file() else None
    if components is None:
        logger.warning("%s: no %s beside it, classifying without fitted components", p.name, fitcomp.name)
    json_path = p.with_name(f"catalog-{base}.json")
    classes = classifier.classify(table, components)
    return ClassifiedCatalogue(base, table, components, classes, json_path if json_path.is_file() else None, False)


def confusion_matrix(truth: Table, classified: ClassifiedCatalogue) -> npt.NDArray[np.int64]:
    """Rows truth, columns predicted, in :data:`CLASSES` order, for an image extracted in memory.

    Raises
    ------
    MissingColumnsError
        If the islands have no contours (a catalogue read back from disk) or the truth lacks columns.
    """
    want = np.asarray(IslandTruth(flatten_sources(classified.table), truth).classes)
    got = np.asarray(classified.classes["class"]).astype(str)
    return np.array([[int(np.sum((want == t) & (got == q))) for q in CLASSES] for t in CLASSES], dtype=np.int64)
