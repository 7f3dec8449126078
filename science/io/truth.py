"""Truth tables of simulated images as ECSV."""

from __future__ import annotations

from pathlib import Path

from astropy.table import Table

from science.errors import InvalidCatalogueError

__all__ = ["load_truth", "write_truth"]


def write_truth(table: Table, path: str | Path) -> Path:
    """Write a truth table (see :data:`science.simulate.TRUTH_COLUMNS`) as ECSV, metadata included."""
    out = Path(path)
    table.write(out, format="ascii.ecsv", overwrite=True)
    return out


def load_truth(path: str | Path) -> Table:
    """Read a truth table written by :func:`write_truth`.

    Raises
    ------
    InvalidCatalogueError
        If the file is missing or not an ECSV table.
    """
    try:
        return Table.read(Path(path), format="ascii.ecsv")
    except (OSError, ValueError) as exc:
        raise InvalidCatalogueError(f"{Path(path).name} is not a readable truth table: {exc}") from exc
