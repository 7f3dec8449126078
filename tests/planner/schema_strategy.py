"""A hypothesis strategy for the JSON-Schema subset that pydantic writes into our OpenAPI document.

(hypothesis-jsonschema does not work with current hypothesis versions.) Handles ``$ref`` into
``components/schemas``, ``anyOf``/``oneOf``/``allOf`` (first part), objects with properties
(optional ones drawn or left out, plus a few unknown keys), arrays, enums, consts, strings (with
``date-time`` and ``uuid`` formats sometimes honoured), integers with bounds, numbers, booleans, null.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

TEXT = st.text(max_size=12)


def strategy(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: strategy(components[name], components, depth + 1))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([strategy(s, components, depth) for s in schema[key]])
    if "allOf" in schema:
        return strategy(schema["allOf"][0], components, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([strategy({**schema, "type": k}, components, depth) for k in kind])
    if kind == "object" or "properties" in schema:
        return _object(schema, components, depth)
    if kind == "array":
        items = strategy(schema.get("items", {}), components, depth + 1)
        return st.lists(items, max_size=0 if depth > 4 else 3)
    if kind == "string":
        formats = {"date-time": "2026-10-05T08:00:00Z", "uuid": "00000000-0000-4000-8000-000000000000"}
        special = formats.get(schema.get("format", ""))
        return TEXT | st.just(special) if special else TEXT | st.sampled_from(["PT90M", "P1D", "banana", ""])
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**40)), schema.get("maximum", 2**40))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return st.none() | st.booleans() | st.integers() | TEXT


def _object(schema: dict[str, Any], components: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = {
        name: strategy(sub, components, depth + 1) for name, sub in properties.items() if name in required or depth <= 5
    }
    optional = sorted(set(fields) - required)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        chosen = draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []
        value = {name: draw(fields[name]) for name in sorted(required & set(fields)) + chosen}
        value.update(draw(st.dictionaries(TEXT, TEXT, max_size=1)))
        return value

    return build()
