"""Encode and decode wire bodies as JSON, YAML or XML, chosen from Content-Type and Accept.

YAML is the default when a client declares nothing (or ``*/*``), as the protocol text asks, and
when it accepts both YAML and JSON. ``"YES"``/``"NO"`` stay quoted in YAML (bare YES/NO are
booleans in YAML 1.1). XML follows :mod:`planner.wire.xmlcodec`.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from planner.wire.xmlcodec import XmlDecodeError, decode_xml, encode_xml

JSON = "application/json"
YAML = "application/yaml"
XML = "application/xml"
_YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml", "application/yml")
_XML_TYPES = ("application/xml", "text/xml")


class BodyDecodeError(ValueError):
    """The body is not valid JSON, YAML or XML for its declared type."""


def _media(value: str) -> str:
    return value.split(";")[0].strip().lower()


def _is_yaml(media_type: str) -> bool:
    media_type = _media(media_type)
    return media_type in _YAML_TYPES or media_type.endswith("+yaml")


def _is_xml(media_type: str) -> bool:
    media_type = _media(media_type)
    return media_type in _XML_TYPES or media_type.endswith("+xml")


def _is_json(media_type: str) -> bool:
    media_type = _media(media_type)
    return media_type == JSON or media_type.endswith("+json")


def decode(body: bytes, content_type: str | None) -> Any:
    """Parse a request body: JSON or XML when declared so, otherwise YAML (a superset of JSON)."""
    media_type = _media(content_type or "")
    if _is_xml(media_type):
        try:
            return decode_xml(body)
        except XmlDecodeError as exc:
            raise BodyDecodeError(str(exc)) from exc
    try:
        text = body.decode("utf-8", errors="strict") if body else ""
        if _is_json(media_type):
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise BodyDecodeError(f"body is not valid {'JSON' if _is_json(media_type) else 'YAML'}: {exc}") from exc


def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header.

    JSON or XML only when asked for (and YAML not); YAML otherwise, also for ``*/*`` or nothing.
    """
    if not accept:
        return YAML
    parts = [part for part in accept.split(",") if part.strip()]
    if any(_is_yaml(part) for part in parts):
        return YAML
    if any(_is_json(part) or _media(part) == "application/*+json" for part in parts):
        return JSON
    if any(_is_xml(part) for part in parts):
        return XML
    return YAML


def encode(data: Any, media_type: str) -> bytes:
    if media_type == JSON:
        return json.dumps(data, separators=(",", ":")).encode()
    if media_type == XML:
        return encode_xml(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
