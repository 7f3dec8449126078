"""caesar island catalogue and DS9 region files: exact header, separators, precision, round trip."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from science.errors import InvalidCatalogueError
from science.extract.extractor import SourceExtractor
from science.extract.sources import CAESAR_COLUMNS, empty_island_table
from science.io.catalogue import (
    CATALOGUE_HEADER,
    catalogue_paths,
    format_row,
    read_island_catalogue,
    write_catalogue_products,
    write_island_catalogue,
    write_regions,
)
from science.simulate import simulate_image


@pytest.fixture(scope="module")
def islands() -> Table:
    image, _ = simulate_image(n_sources=30, seed=5)
    return SourceExtractor().extract(image)


def test_header_lines_are_caesars(tmp_path: Path, islands: Table) -> None:
    path = write_island_catalogue(islands, tmp_path / "catalog-sim.dat")
    lines = path.read_text().split("\n")
    assert lines[0] == "#======== CAESAR RESULTS ======"
    assert lines[1] == "# This ascii file contains source islands (or blobs) found by CAESAR."
    assert lines[6] == "# ---- HEADER ----"
    assert lines[7] == "# name - Source name assigned by finder"
    assert lines[12] == "# x - Source centroid in image coordinates along x axis "
    assert lines[7 + 33] == "# ---------------"
    assert lines[7 + 34] == "#"
    names = lines[7 + 35]
    assert names.startswith("# name\tiauName\tnpix\t")
    assert names.endswith("\tsourceNestedLevel\t")  # trailing tab
    assert names[2:-1].split("\t") == [name for name, _ in CAESAR_COLUMNS]
    assert lines[: 7 + 36] == list(CATALOGUE_HEADER)
    assert lines[-1] == ""  # file ends with a newline
    rows = lines[7 + 36 : -1]
    assert len(rows) == len(islands)
    assert all(len(r.split("\t")) == 33 and not r.endswith("\t") for r in rows)


def test_precision_is_6_then_8_significant_digits() -> None:
    row = dict.fromkeys((name for name, _ in CAESAR_COLUMNS), 0)
    row.update({"name": "S1", "iauName": "J100000.0-300000", "npix": 1234567})
    row.update({"x": 123.456789, "y": 1e-5, "x_w": 2.0, "y_w": 1234567.8})
    row.update({"x_wcs(deg)": 149.123456789, "y_wcs(deg)": -29.98765432101, "nu(GHz)": -999.0})
    row.update({"Stot(Jy/beam)": 0.000123456789, "xmin": 12, "isGoodSource": 1, "beamArea": 18.129441434})
    fields = format_row(row).split("\t")
    assert fields[:9] == ["S1", "J100000.0-300000", "1234567", "0", "0", "123.457", "1e-05", "2", "1.23457e+06"]
    assert fields[9:11] == ["149.12346", "-29.987654"]
    assert fields[13] == "12"
    assert fields[21] == "-999"
    assert fields[22] == "0.00012345679"
    assert fields[26] == "18.129441"
    assert fields[31] == "1"


def test_round_trip_column_by_column(tmp_path: Path, islands: Table) -> None:
    path = write_island_catalogue(islands, tmp_path / "catalog-sim.dat")
    back = read_island_catalogue(path)
    assert back.colnames == [name for name, _ in CAESAR_COLUMNS]
    for i, (name, dtype) in enumerate(CAESAR_COLUMNS):
        if dtype.startswith(("U", "i")):
            assert list(back[name]) == list(islands[name]), name
        else:
            rtol = 5e-6 if i < 9 else 5e-8
            np.testing.assert_allclose(back[name], islands[name], rtol=rtol, atol=1e-300, err_msg=name)


def test_reader_rejects_a_file_without_caesar_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.dat"
    path.write_text("# nothing here\n1\t2\n")
    with pytest.raises(InvalidCatalogueError, match=re.escape("bad.dat has no caesar column-name line")):
        read_island_catalogue(path)


def test_region_file_format(tmp_path: Path, islands: Table) -> None:
    path = write_regions(islands, tmp_path / "ds9-sim.reg")
    lines = path.read_text().split("\n")
    assert lines[:3] == [
        "# Region file format: DS9 version 4.1",
        'global color=red font="helvetica 8 normal" edit=1 move=1 delete=1 include=1',
        "image",
    ]
    first = lines[3]
    assert first.startswith("polygon ")
    assert first.endswith(" # text={S1} color=blue tag={COMPACT} tag={CANDIDATE} ")
    coords = [int(v) for v in first.split(" # ")[0].split()[1:]]
    contour = islands["contour"][0]
    assert coords == [int(v) + 1 for xy in contour for v in xy]


def test_no_sources_writes_regions_but_no_catalogue(tmp_path: Path) -> None:
    written = write_catalogue_products(empty_island_table(), tmp_path, "empty")
    assert set(written) == {"regions"}
    paths = catalogue_paths(tmp_path, "empty")
    assert not paths["catalogue"].exists() and not paths["json"].exists()
    assert paths["regions"].read_text().count("\n") == 3


def test_products_with_sources(tmp_path: Path, islands: Table) -> None:
    written = write_catalogue_products(islands, tmp_path, "sim")
    assert {p.name for p in written.values()} == {"catalog-sim.dat", "catalog-sim.json", "ds9-sim.reg"}
