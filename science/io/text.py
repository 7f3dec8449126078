"""Helpers shared by the catalogue writers: table rows as plain dicts, JSON with one record per line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from astropy.table import Table

__all__ = ["dump_json_records", "table_rows"]


def table_rows(table: Table) -> list[dict[str, Any]]:
    """The rows of ``table`` as plain dicts (column lists read once: much faster than astropy ``Row`` access)."""
    columns = [table[name].tolist() for name in table.colnames]
    return [dict(zip(table.colnames, values, strict=True)) for values in zip(*columns, strict=True)]


def dump_json_records(head: Mapping[str, Any], key: str, records: list[dict[str, Any]]) -> str:
    """A JSON object: ``head``'s keys indented, then ``key`` holding ``records``, one compact record per line.

    Pretty-printing every nested value with ``indent`` runs the pure-Python encoder (a vertex list takes
    three lines per point); one record per line keeps the file readable and encodes each record with
    the C encoder. Parsed, it is the same document.
    """
    parts = [json.dumps({k: v}, indent=2)[2:-2] for k, v in head.items()]
    body = ",\n    ".join(json.dumps(r) for r in records)
    parts.append(f'  "{key}": [\n    {body}\n  ]' if records else f'  "{key}": []')
    return "{\n" + ",\n".join(parts) + "\n}\n"
