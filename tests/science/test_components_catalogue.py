"""caesar fitted-component files: 48 columns, header, precision, round trip, JSON and DS9 ellipses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from science.errors import InvalidCatalogueError
from science.extract.components import COMPONENT_COLUMNS
from science.extract.extractor import ExtractionParams, SourceExtractor
from science.io.catalogue import read_island_catalogue, write_catalogue_products
from science.io.components import (
    COMPONENT_HEADER,
    component_table,
    read_component_catalogue,
    write_component_catalogue,
)
from science.simulate import simulate_image


@pytest.fixture(scope="module")
def fitted() -> Table:
    image, _ = simulate_image(n_sources=30, seed=5)
    return SourceExtractor(ExtractionParams(fitsources=True)).extract(image)


def test_48_columns_in_caesar_order() -> None:
    names = [n for n, _ in COMPONENT_COLUMNS]
    assert len(names) == 48
    assert names[:4] == ["name", "npix", "componentId", "iauName"]
    assert names[13:20] == [
        "Speak(Jy/beam)",
        "Speak_err(Jy/beam)",
        "S(Jy)",
        "S_err(Jy)",
        "S_island(Jy)",
        "S_island_err(Jy)",
        "beamArea",
    ]
    assert names[-3:] == ["fitQuality", "sourcenessId", "morphId"]


def test_header_lines(tmp_path: Path, fitted: Table) -> None:
    lines = write_component_catalogue(fitted, tmp_path / "c.dat").read_text().split("\n")
    assert lines[0] == "#======== CAESAR RESULTS ======"
    assert lines[1] == "# This ascii file contains source components fitted to islands/blobs detected by CAESAR."
    assert lines[4] == "# ---- HEADER ----"
    assert lines[5] == "# name - Island source name assigned by finder"
    assert lines[5 + 48] == "# ---------------"
    assert lines[5 + 49] == "#"
    assert lines[5 + 50] == "# " + "\t".join(n for n, _ in COMPONENT_COLUMNS) + "\t"
    assert lines[5 + 50] == COMPONENT_HEADER[-1]
    first = lines[5 + 51].split("\t")
    assert len(first) == 48 and not lines[5 + 51].endswith("\t")


def test_precision_6_then_8_digits_from_x_wcs(tmp_path: Path, fitted: Table) -> None:
    line = write_component_catalogue(fitted, tmp_path / "c.dat").read_text().split("\n")[56].split("\t")
    assert len(line[4].replace(".", "").lstrip("0")) <= 6  # x: default precision
    assert len(line[8].replace(".", "").replace("-", "").lstrip("0")) == 8  # x_wcs: setprecision(8)


def test_round_trip_column_by_column(tmp_path: Path, fitted: Table) -> None:
    expected = component_table(fitted)
    back = read_component_catalogue(write_component_catalogue(fitted, tmp_path / "c.dat"))
    assert len(back) == len(expected) == sum(len(c) for c in fitted["components"])
    for name, dtype in COMPONENT_COLUMNS:
        if dtype.startswith("U") or dtype.startswith("i"):
            assert list(back[name]) == list(expected[name]), name
        else:
            np.testing.assert_allclose(back[name], expected[name], rtol=1e-5, atol=1e-12, err_msg=name)


def test_reader_rejects_wrong_field_count(tmp_path: Path) -> None:
    path = tmp_path / "bad.dat"
    path.write_text("\n".join([*COMPONENT_HEADER, "S1\t3"]) + "\n")
    with pytest.raises(InvalidCatalogueError, match="row 1 has 2 fields, expected 48"):
        read_component_catalogue(path)


def test_products_include_fitcomp_files_and_island_flux(tmp_path: Path, fitted: Table) -> None:
    written = write_catalogue_products(fitted, tmp_path, "sim")
    assert {p.name for p in written.values()} == {
        "catalog-sim.dat", "catalog-sim.json", "ds9-sim.reg",
        "catalog_fitcomp-sim.dat", "catalog_fitcomp-sim.json", "ds9_fitcomp-sim.reg",
    }  # fmt: skip
    islands = read_island_catalogue(written["catalogue"])
    assert np.all(islands["nComponents"] >= 1)
    np.testing.assert_allclose(islands["S(Jy)"], fitted["S(Jy)"], rtol=1e-6)
    doc = json.loads(written["fitcomp_json"].read_text())
    comp = doc["components"][0]
    assert comp["fluxDensity"] == pytest.approx(
        comp["A"] * 2 * np.pi * (comp["bmaj"] / 2.3548) * (comp["bmin"] / 2.3548), rel=1e-3
    )
    island_doc = json.loads(written["json"].read_text())
    assert island_doc["sources"][0]["islands"][0]["fit_info"]["model"] == "gaus"
    regions = written["fitcomp_regions"].read_text().split("\n")
    assert regions[2] == "image"
    assert regions[3].startswith("ellipse ") and "text={S1_fitcomp1} color=red" in regions[3]
    assert regions[3].endswith("tag={FIT-COMPONENT} tag={CANDIDATE} tag={HQ-FIT} ")


def test_no_fit_writes_no_fitcomp_files(tmp_path: Path) -> None:
    image, _ = simulate_image(n_sources=10, seed=5)
    written = write_catalogue_products(SourceExtractor().extract(image), tmp_path, "sim")
    assert "fitcomp_catalogue" not in written
    assert not (tmp_path / "catalog_fitcomp-sim.dat").exists()
