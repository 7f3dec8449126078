"""Encode and decode wire bodies as JSON or YAML, chosen from Content-Type and Accept.

YAML is the default when a client declares nothing (or ``*/*``), as the protocol text asks.
``"YES"``/``"NO"`` stay quoted in YAML (bare YES/NO are booleans in YAML 1.1).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

JSON = "application/json"
YAML = "application/yaml"
_YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml", "application/yml")


class BodyDecodeError(ValueError):
    """The body is not valid JSON or YAML for its declared type."""


def _is_yaml(media_type: str) -> bool:
    media_type = media_type.split(";")[0].strip().lower()
    return media_type in _YAML_TYPES or media_type.endswith("+yaml")


def decode(body: bytes, content_type: str | None) -> Any:
    """Parse a request body; JSON when declared so, otherwise YAML (a superset of JSON)."""
    text = body.decode("utf-8", errors="strict") if body else ""
    media_type = (content_type or "").split(";")[0].strip().lower()
    try:
        if media_type == JSON or media_type.endswith("+json"):
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BodyDecodeError(f"body is not valid {'JSON' if 'json' in media_type else 'YAML'}: {exc}") from exc


def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header: JSON only when asked for (and YAML not)."""
    if not accept:
        return YAML
    wants_json = any(part.split(";")[0].strip().lower() in (JSON, "application/*+json") for part in accept.split(","))
    wants_yaml = any(_is_yaml(part) for part in accept.split(","))
    return JSON if wants_json and not wants_yaml else YAML


def encode(data: Any, media_type: str) -> bytes:
    if media_type == JSON:
        return json.dumps(data, separators=(",", ":")).encode()
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
