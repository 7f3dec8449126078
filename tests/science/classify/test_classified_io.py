"""Classified products: the caesar-style .dat with class columns, the caesar JSON with classes, the VOTable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io.votable import parse_single_table
from astropy.table import Table

from science.classify.catalogue import classify_file
from science.classify.errors import EmptyCatalogueError, MissingColumnsError
from science.classify.model import CLASSIFIED_COLUMNS
from science.errors import InvalidCatalogueError
from science.extract.sources import CAESAR_COLUMNS
from science.io.catalogue import write_catalogue_products
from science.io.classified import load_classifier, write_classified_products
from science.io.fits import write_image
from science.simulate import simulate_image


@pytest.fixture(scope="module")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image, _ = simulate_image(shape=(256, 256), n_sources=15, n_resolved=3, n_doubles=2, seed=8, name="eight")
    return write_image(tmp_path_factory.mktemp("img") / "eight.fits", image)


def read_dat(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    names = next(line for line in lines if line.startswith("# name\t"))[2:].rstrip("\t").split("\t")
    return [dict(zip(names, line.split("\t"), strict=True)) for line in lines if not line.startswith("#")]


def test_products_of_an_image_carry_the_classes(image_file: Path, tmp_path: Path) -> None:
    classified = classify_file(image_file, load_classifier())
    files = write_classified_products(classified.table, classified.classes, tmp_path, "eight")
    rows = read_dat(files["classified_catalogue"])
    assert list(rows[0]) == [n for n, _ in CAESAR_COLUMNS] + list(CLASSIFIED_COLUMNS[1:])
    assert [r["class"] for r in rows] == list(classified.classes["class"])
    sources = json.loads(files["json"].read_text())["sources"]
    assert [s["class_label"] for s in sources] == [c.upper() for c in classified.classes["class"]]
    assert sources[0]["islands"][0]["class_score"] == pytest.approx(float(classified.classes["class_prob"][0]))
    assert set(sources[0]["class_probs"]) == {"compact", "extended", "spurious"}
    votable = parse_single_table(files["votable"]).to_table()
    assert list(votable["class"]) == list(classified.classes["class"])
    np.testing.assert_allclose(votable["class_prob"], classified.classes["class_prob"])


def test_a_catalogue_read_back_classifies_like_the_image(image_file: Path, tmp_path: Path) -> None:
    classifier = load_classifier()
    from_image = classify_file(image_file, classifier)
    written = write_catalogue_products(from_image.table, tmp_path, "eight")
    from_disk = classify_file(written["catalogue"], classifier)
    assert from_disk.components is not None and from_disk.source_json == written["json"]
    assert list(from_disk.classes["class"]) == list(from_image.classes["class"])
    np.testing.assert_allclose(from_disk.classes["class_prob"], from_image.classes["class_prob"], rtol=1e-5)
    out = write_classified_products(
        from_disk.table, from_disk.classes, tmp_path / "out", "eight", source_json=from_disk.source_json
    )
    assert json.loads(out["json"].read_text())["sources"][0]["class_label"] != "UNKNOWN"


def test_an_empty_catalogue_file_is_a_clear_error(image_file: Path, tmp_path: Path) -> None:
    classifier = load_classifier()
    written = write_catalogue_products(classify_file(image_file, classifier).table, tmp_path, "x")
    lines = written["catalogue"].read_text().splitlines()
    written["catalogue"].write_text("\n".join(line for line in lines if line.startswith("#")) + "\n")
    with pytest.raises(EmptyCatalogueError, match=r"catalog-x\.dat has no sources to classify"):
        classify_file(written["catalogue"], classifier)


def test_a_catalogue_without_the_needed_columns_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog-bad.dat"
    path.write_text("# name\tx\ty\t\nS1\t1\t2\n")
    with pytest.raises(InvalidCatalogueError, match="no caesar column-name line"):
        classify_file(path, load_classifier())
    with pytest.raises(MissingColumnsError, match="lacks column"):
        load_classifier().classify(Table({"name": ["S1"], "x": [1.0]}))


def test_classes_for_other_rows_are_refused(image_file: Path, tmp_path: Path) -> None:
    classified = classify_file(image_file, load_classifier())
    with pytest.raises(InvalidCatalogueError, match="one row per source"):
        write_classified_products(classified.table, classified.classes[1:], tmp_path, "eight")
