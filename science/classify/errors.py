"""Errors of source classification, under the :class:`~science.errors.ScienceError` root.

ScienceError
├── InvalidCatalogueError
│   ├── EmptyCatalogueError     nothing to classify
│   └── MissingColumnsError     a catalogue lacks the columns the features need
└── ModelError                  a model file cannot be used
    └── ModelVersionError       its format, feature schema or scikit-learn version does not match
        └── ExtractionMismatchError  it was trained on islands extracted with other settings
"""

from __future__ import annotations

from science.errors import InvalidCatalogueError, ScienceError

__all__ = [
    "EmptyCatalogueError",
    "ExtractionMismatchError",
    "MissingColumnsError",
    "ModelError",
    "ModelVersionError",
]


class EmptyCatalogueError(InvalidCatalogueError):
    """The catalogue has no source to classify."""

    code = "empty-catalogue"
    title = "Empty catalogue"


class MissingColumnsError(InvalidCatalogueError):
    """The catalogue lacks columns that the classification features are computed from."""

    code = "missing-columns"
    title = "Missing catalogue columns"


class ModelError(ScienceError):
    """A classifier model file is missing, unreadable or inconsistent."""

    code = "invalid-model"
    title = "Invalid classifier model"


class ModelVersionError(ModelError):
    """A model was written for another format version, feature schema or scikit-learn version."""

    code = "model-version-mismatch"
    title = "Classifier model version mismatch"


class ExtractionMismatchError(ModelVersionError):
    """A model was trained on islands extracted with other settings than the catalogue's."""

    code = "model-extraction-mismatch"
    title = "Classifier model trained on another extraction"
