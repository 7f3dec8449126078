"""The science package's error tree. Every error carries a stable kebab-case code and a title.

ScienceError
├── InvalidImageError   the input image cannot be used (bad file, no WCS, no beam, blank, wrong units)
├── InvalidCatalogueError  a catalogue or truth file cannot be parsed
└── ParameterError      an algorithm parameter is out of range or inconsistent
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["InvalidCatalogueError", "InvalidImageError", "ParameterError", "ScienceError"]


class ScienceError(Exception):
    """Root of every science error.

    Parameters
    ----------
    detail
        A message that stands on its own: what failed, for which input, what is allowed.
    **extra
        Structured context (e.g. ``path``, ``shape``) kept in :attr:`extra`.
    """

    code: ClassVar[str] = "science-error"
    title: ClassVar[str] = "Science error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidImageError(ScienceError):
    """The image file or array cannot be processed."""

    code = "invalid-image"
    title = "Invalid image"


class ParameterError(ScienceError):
    """A parameter is out of its allowed range or inconsistent with the others."""

    code = "invalid-parameter"
    title = "Invalid parameter"


class InvalidCatalogueError(ScienceError):
    """A catalogue or truth table file cannot be parsed."""

    code = "invalid-catalogue"
    title = "Invalid catalogue"
