"""Helpers shared by the catalogue writers: table rows as plain dicts, caesar's ASCII row format
(tab separated; 6 significant digits for the first columns, then ``setprecision(8)``), JSON with one
record per line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from astropy.table import Table

__all__ = ["row_format", "table_rows", "write_json_records"]


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
    orjson (numpy scalars as numbers; a non-finite float is written ``null``, as JSON has no NaN). Records
    are streamed to the file, so a mosaic's catalogue is never one string in memory. Parsed, it is the
    same document.
    """
    with path.open("wb") as fh:
        fh.write(b"{\n")
        for k, v in head.items():
            fh.write(json.dumps({k: v}, indent=2)[2:-2].encode("utf-8") + b",\n")
        fh.write(f'  "{key}": ['.encode())
        sep = b"\n    "
        for record in records:
            fh.write(sep + orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY))
            sep = b",\n    "
        fh.write(b"\n  ]\n}\n" if sep != b"\n    " else b"]\n}\n")
    return path


def _conversion(dtype: str, precision: int) -> str:
    if dtype.startswith("U"):
        return "%s"
    if dtype.startswith("i"):
        return "%d"
    return f"%.{precision}g"


def row_format(columns: Sequence[tuple[str, str]], default_precision_columns: int) -> tuple[str, tuple[str, ...]]:
    """One %-format for a whole line, and the column names in order.

    ``default_precision_columns`` columns use 6 significant digits; the rest use 8.
    """
    fmt = "\t".join(
        _conversion(dtype, 6 if i < default_precision_columns else 8) for i, (_, dtype) in enumerate(columns)
    )
    return fmt, tuple(name for name, _ in columns)
