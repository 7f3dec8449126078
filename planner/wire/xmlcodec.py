"""XML form of wire documents: ``kind`` as an attribute, lists wrapped, maps as child elements.

Roots: ``offers-request`` (an ExecutionRequest), ``offers-response`` (an OfferSetResponse) and
``execution`` (a session); anything else (problem details, updates) uses ``document``. A list field
``offers`` becomes ``<offers><offer>…</offer></offers>``; a map key that is not an XML name becomes
``<entry key="…">``. Values come back as strings (pydantic converts them for typed fields).
Documents with a DOCTYPE are refused (no entity expansion from clients).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

ITEM_NAMES = {
    "offers": "offer",
    "messages": "message",
    "options": "option",
    "costs": "cost",
    "metrics": "metric",
    "data": "resource",
    "storage": "resource",
    "volumes": "volume",
    "values": "value",
    "inputs": "input",
    "locations": "location",
    "command": "arg",
    "connectors": "connector",
    "ports": "port",
    "addresses": "address",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")


class XmlDecodeError(ValueError):
    """The body is not an XML document we read."""


def root_for(data: Any) -> str:
    """The root element name for a document: by its shape, as the schema names them."""
    if isinstance(data, dict):
        if "result" in data and "offers" in data:
            return "offers-response"
        if "phase" in data:
            return "execution"
        if "executable" in data or "compute" in data:
            return "offers-request"
    return "document"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any, field: str) -> None:
    if isinstance(value, dict):
        if not value:
            element.set("map", "true")
        for key, item in value.items():
            if item is None:
                continue
            if key == "kind" and isinstance(item, str):
                element.set("kind", item)
                continue
            if _NAME.match(str(key)):
                child = ET.SubElement(element, str(key))
            else:
                child = ET.SubElement(element, "entry", key=str(key))
            _fill(child, item, str(key))
    elif isinstance(value, list):
        element.set("list", "true")
        for item in value:
            _fill(ET.SubElement(element, ITEM_NAMES.get(field, "item")), item, "")
    else:
        element.text = _text(value)


def encode_xml(data: Any) -> bytes:
    root = ET.Element(root_for(data))
    _fill(root, data, "")
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _read(element: ET.Element) -> Any:
    children = list(element)
    if element.get("list") == "true":
        return [_read(child) for child in children]
    if element.get("map") == "true" and not children:
        return {}
    item = ITEM_NAMES.get(element.tag)
    if children and item and all(child.tag == item for child in children):
        return [_read(child) for child in children]
    if not children and "kind" not in element.attrib:
        text = (element.text or "").strip()
        return [] if not text and item else text
    result: dict[str, Any] = {}
    if "kind" in element.attrib:
        result["kind"] = element.attrib["kind"]
    for child in children:
        key = child.get("key", child.tag) if child.tag == "entry" else child.tag
        result[key] = _read(child)
    return result


def decode_xml(body: bytes) -> Any:
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise XmlDecodeError("XML documents with a DOCTYPE or entities are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise XmlDecodeError(f"body is not valid XML: {exc}") from exc
    data = _read(root)
    return data if isinstance(data, dict) else {}
