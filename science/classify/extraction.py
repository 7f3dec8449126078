"""The extraction a classifier's features come from, and how the model stamp records it.

The features are computed on the islands the extractor finds, so a model only fits catalogues extracted
with the settings it was trained on (thresholds, fitting, nested and extended search, the compact+extended
merge ...). The stamp's ``extraction`` entry records them: ``settings``, every
:class:`~science.extract.params.ExtractionParams` field (so a change of the defaults cannot hide a
difference), ``non_default``, the fields that differed from the training code's defaults (for reading),
and ``digest``, a hash of ``settings``. :func:`extraction_differences` compares a record with the settings
a catalogue was extracted with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from science.extract.params import ExtractionParams

__all__ = ["CLASSIFY_EXTRACTION", "extraction_differences", "extraction_digest", "extraction_record"]

#: Extraction before classifying an image and for training: caesar-rest's defaults with Gaussian fitting.
CLASSIFY_EXTRACTION = ExtractionParams(fitsources=True)


def _settings(params: ExtractionParams) -> dict[str, Any]:
    settings: dict[str, Any] = params.model_dump(mode="json")
    return settings


def _digest(settings: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(dict(settings), sort_keys=True).encode()).hexdigest()[:16]


def extraction_digest(params: ExtractionParams) -> str:
    """Hash of every extraction setting (16 hex digits)."""
    return _digest(_settings(params))


def extraction_record(params: ExtractionParams) -> dict[str, Any]:
    """The stamp's ``extraction`` entry for a model trained on islands extracted with ``params``."""
    return {
        "digest": extraction_digest(params),
        "non_default": params.model_dump(mode="json", exclude_defaults=True),
        "settings": _settings(params),
    }


def extraction_differences(record: Mapping[str, Any], params: ExtractionParams) -> list[str]:
    """``"<field>: model <a>, catalogue <b>"`` for every setting in which ``params`` differs from ``record``.

    Empty when the digests agree. A field one side lacks (added or removed since the model was trained)
    shows as ``absent``.
    """
    if record.get("digest") == extraction_digest(params):
        return []
    stamped = record.get("settings")
    stamped = stamped if isinstance(stamped, Mapping) else {}
    current = _settings(params)
    missing = object()
    out = []
    for name in [*current, *(k for k in stamped if k not in current)]:
        a, b = stamped.get(name, missing), current.get(name, missing)
        if a != b:
            shown = ["absent" if v is missing else json.dumps(v) for v in (a, b)]
            out.append(f"{name}: model {shown[0]}, catalogue {shown[1]}")
    return out or [f"settings digest: model {record.get('digest')!r}, catalogue {extraction_digest(params)!r}"]
