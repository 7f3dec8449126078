"""Helpers shared by the catalogue writers: table rows as plain dicts, JSON with one record per line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from astropy.table import Table

__all__ = ["table_rows", "write_json_records"]


def table_rows(table: Table) -> Iterator[dict[str, Any]]:
    """The rows of ``table`` as plain dicts (column lists read once: much faster than astropy ``Row`` access)."""
    names = list(table.colnames)
    columns = [table[name].tolist() for name in names]
    for values in zip(*columns, strict=True):
        yield dict(zip(names, values, strict=True))


def write_json_records(path: Path, head: Mapping[str, Any], key: str, records: Iterable[dict[str, Any]]) -> Path:
    """Write a JSON object: ``head``'s keys indented, then ``key`` holding ``records``, one compact record per line.

    Pretty-printing every nested value with ``indent`` runs the pure-Python encoder (a vertex list takes
    three lines per point); one record per line keeps the file readable and encodes each record with
    the C encoder. Records are streamed to the file, so a mosaic's catalogue is never one string in
    memory. Parsed, it is the same document.
    """
    with path.open("w", encoding="utf-8") as fh:
        fh.write("{\n")
        for k, v in head.items():
            fh.write(json.dumps({k: v}, indent=2)[2:-2] + ",\n")
        fh.write(f'  "{key}": [')
        sep = "\n    "
        for record in records:
            fh.write(sep + json.dumps(record))
            sep = ",\n    "
        fh.write("\n  ]\n}\n" if sep != "\n    " else "]\n}\n")
    return path
