"""Model training is reproducible; files round-trip; stamps that do not match are refused clearly."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from science.classify.catalogue import CLASSIFY_EXTRACTION, classify_file
from science.classify.errors import EmptyCatalogueError, ExtractionMismatchError, ModelError, ModelVersionError
from science.classify.extraction import extraction_differences, extraction_digest, extraction_record
from science.classify.features import FEATURE_NAMES
from science.classify.labels import CLASSES
from science.classify.model import CLASSIFIED_COLUMNS, OnnxScorer, SourceClassifier
from science.classify.training import TrainingSpec, build_training_set, train_classifier
from science.extract.params import ExtractionParams
from science.extract.sources import empty_island_table
from science.io.catalogue import write_catalogue_products
from science.io.classified import DEFAULT_MODEL, load_classifier, write_classifier
from science.io.fits import write_image
from science.simulate import simulate_image

TINY = TrainingSpec(
    seeds=(11, 12),
    validation_seeds=(),
    size=256,
    n_sources=20,
    n_resolved=5,
    n_doubles=2,
    n_diffuse=1,
    sidelobe_levels=(0.08,),
    max_iter=10,
)


@pytest.fixture(scope="module")
def tiny() -> SourceClassifier:
    classifier, _ = train_classifier(TINY)
    return classifier


def test_training_is_reproducible(tiny: SourceClassifier) -> None:
    again, _ = train_classifier(TINY)
    features = build_training_set(TINY, (13,)).features
    np.testing.assert_array_equal(tiny.predict_proba(features), again.predict_proba(features))
    assert tiny.stamp["training"]["class_counts"] == again.stamp["training"]["class_counts"]


def test_a_written_model_loads_and_predicts_the_same(tiny: SourceClassifier, tmp_path: Path) -> None:
    path = write_classifier(tiny, tmp_path / "m.json")
    loaded = load_classifier(path)
    features = build_training_set(TINY, (13,)).features
    np.testing.assert_array_equal(loaded.predict_proba(features), tiny.predict_proba(features))
    assert loaded.stamp["feature_names"] == list(FEATURE_NAMES)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("format_version", 99, "format version 99"),
        ("feature_schema", "0123456789abcdef", "feature schema '0123456789abcdef'"),
        ("sklearn_version", "0.24.2", "scikit-learn version '0.24'"),
        ("classes", ["a", "b", "c"], "classes"),
        ("extraction", None, "does not record the extraction settings"),
        ("extraction", {"fitsources": True}, "does not record the extraction settings"),
    ],
)
def test_a_stamp_for_other_code_is_refused_before_unpickling(
    tiny: SourceClassifier, tmp_path: Path, key: str, value: object, message: str
) -> None:
    path = write_classifier(tiny, tmp_path / "m.json")
    stamp = json.loads(path.read_text())
    stamp[key] = value
    path.write_text(json.dumps(stamp))
    path.with_suffix(".joblib").write_bytes(b"not a pickle")  # never read: the stamp fails first
    with pytest.raises(ModelVersionError, match="retrain it with `cirasa classify train`") as info:
        load_classifier(path)
    assert message in str(info.value)
    assert info.value.code == "model-version-mismatch"


def test_the_stamp_records_every_extraction_setting(tiny: SourceClassifier) -> None:
    record = tiny.stamp["extraction"]
    assert record["settings"] == CLASSIFY_EXTRACTION.model_dump(mode="json")
    assert record["settings"]["extendedsearch"] is True and record["settings"]["mergesources"] is True
    assert record["non_default"] == {"fitsources": True}
    assert record["digest"] == extraction_digest(CLASSIFY_EXTRACTION)
    assert tiny.extraction_differences(CLASSIFY_EXTRACTION) == []


def test_extraction_differences_name_each_setting() -> None:
    record = extraction_record(CLASSIFY_EXTRACTION)
    other = CLASSIFY_EXTRACTION.model_copy(update={"extendedsearch": False, "seedthr": 4.0})
    assert extraction_differences(record, other) == [
        "seedthr: model 5.0, catalogue 4.0",
        "extendedsearch: model true, catalogue false",
    ]
    # a model stamped before a field existed (or a default changed) is not taken for the same settings
    older = {
        **record,
        "digest": "0" * 16,
        "settings": {k: v for k, v in record["settings"].items() if k != "mergesources"},
    }
    assert extraction_differences(older, CLASSIFY_EXTRACTION) == ["mergesources: model absent, catalogue true"]


def test_the_shipped_model_was_trained_with_the_classification_extraction() -> None:
    """Changing the extraction defaults (or CLASSIFY_EXTRACTION) needs a retrained model: `cirasa classify train`."""
    assert load_classifier().extraction_differences(CLASSIFY_EXTRACTION) == []


def test_an_image_is_not_extracted_with_other_settings_than_the_models(
    tiny: SourceClassifier, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image, _ = simulate_image(shape=(256, 256), n_sources=15, n_resolved=3, seed=5, name="five")
    path = write_image(tmp_path / "five.fits", image)
    other = ExtractionParams(fitsources=True, mergesources=False)
    with pytest.raises(ExtractionMismatchError, match="mergesources: model true, catalogue false") as info:
        classify_file(path, tiny, extraction=other)
    assert isinstance(info.value, ModelVersionError) and info.value.code == "model-extraction-mismatch"
    assert "retrain it with `cirasa classify train`" in str(info.value)
    # a catalogue's settings are not in its files: when the caller knows they differ, a warning, not a refusal
    written = write_catalogue_products(classify_file(path, tiny).table, tmp_path, "five")
    with caplog.at_level(logging.WARNING, logger="science.classify.catalogue"):
        same = classify_file(written["catalogue"], tiny, catalogue_extraction=CLASSIFY_EXTRACTION)
        assert not caplog.records
        differs = classify_file(written["catalogue"], tiny, catalogue_extraction=other)
    assert "mergesources: model true, catalogue false" in caplog.text
    assert list(differs.classes["class"]) == list(same.classes["class"])


def test_a_model_file_that_does_not_match_its_stamp_is_refused(tiny: SourceClassifier, tmp_path: Path) -> None:
    path = write_classifier(tiny, tmp_path / "m.json")
    path.with_suffix(".joblib").write_bytes(b"tampered")
    with pytest.raises(ModelError, match="does not match its stamp"):
        load_classifier(path)
    with pytest.raises(ModelError, match="cannot read classifier stamp"):
        load_classifier(tmp_path / "absent.json")


def test_the_shipped_model_loads_and_classifies_an_image(tmp_path: Path) -> None:
    assert DEFAULT_MODEL.with_suffix(".joblib").stat().st_size < 1_000_000
    classifier = load_classifier()
    image, _ = simulate_image(shape=(256, 256), n_sources=15, n_resolved=3, seed=5, name="five")
    classified = classify_file(write_image(tmp_path / "five.fits", image), classifier)
    classes = classified.classes
    assert classes.colnames == list(CLASSIFIED_COLUMNS)
    assert set(classes["class"]) <= set(CLASSES)
    probs = np.column_stack([classes[f"prob_{c}"] for c in CLASSES])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.all(classes["class_prob"] == probs.max(axis=1))


def test_classifying_an_empty_catalogue_is_a_clear_error(tiny: SourceClassifier) -> None:
    with pytest.raises(EmptyCatalogueError, match="no sources to classify"):
        tiny.classify(empty_island_table(0))


def test_an_onnx_model_without_onnxruntime_is_a_clear_error(tmp_path: Path) -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        with pytest.raises(ModelError, match="needs the onnxruntime package"):
            OnnxScorer(str(tmp_path / "model.onnx"))
    else:
        with pytest.raises(ModelError, match="cannot load ONNX model"):
            OnnxScorer(str(tmp_path / "model.onnx"))
