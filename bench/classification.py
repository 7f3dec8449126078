"""Source-classification benchmark on held-out simulated images (seeds never used in training).

``python -m bench.classification`` loads the shipped model (``science/classify/models/morphology.json``),
simulates two held-out sets with :func:`science.simulate.simulate_image`, extracts them with fitting, labels
the islands from the truth (:class:`science.classify.labels.IslandTruth`) and scores the model:

- ``in_distribution``: the training recipe (:class:`~science.classify.training.TrainingSpec` defaults)
  on seeds 9000–9011;
- ``shifted``: sidelobe levels and rms gradients never seen in training (0.04, 0.065, 0.1; gradient 1.0),
  4-beam source separation, seeds 9100–9107.

Per set: accuracy, per-class precision/recall, confusion matrix (rows truth), compact-vs-extended accuracy
(real sources the model calls real), spurious recall near bright sources (a source ≥ 10× brighter within
10 beams), the extractor's rule-based artefact flag (``rejectartefacts``) on the same islands for
comparison, peak-count agreement (fitted components vs true peaks on real islands) and the ``<n>C_<m>P``
label counts. Goals: ≥ 0.90 compact-vs-extended accuracy, ≥ 0.80 artefact recall near bright sources.
The images are extracted with :data:`~science.classify.extraction.CLASSIFY_EXTRACTION`; a model trained on
other extraction settings is refused (retrain it with ``cirasa classify train``).
Writes ``bench/results/classification.json`` and ``classification-confusion.png`` (the shifted set).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine_info
from flows.classify import render_confusion_png
from science.classify.errors import ExtractionMismatchError
from science.classify.extraction import CLASSIFY_EXTRACTION, extraction_digest
from science.classify.labels import CLASSES, IslandTruth
from science.classify.training import TrainingSpec, build_training_set, evaluate
from science.extract.extractor import SourceExtractor
from science.io.classified import load_classifier
from science.simulate import simulate_image

RESULTS = Path(__file__).parent / "results" / "classification.json"
PNG = Path(__file__).parent / "results" / "classification-confusion.png"

SETS: dict[str, tuple[TrainingSpec, tuple[int, ...]]] = {
    "in_distribution": (TrainingSpec(), tuple(range(9000, 9012))),
    "shifted": (
        TrainingSpec(sidelobe_levels=(0.04, 0.065, 0.1), rms_gradients=(1.0,), min_separation_beams=4.0),
        tuple(range(9100, 9108)),
    ),
}


def _rule_baseline(spec: TrainingSpec, seeds: tuple[int, ...]) -> dict[str, Any]:
    """The extractor's own artefact flag (sourcenessId FAKE) as a spurious/real classifier on the same images."""
    extractor = SourceExtractor(CLASSIFY_EXTRACTION.model_copy(update={"rejectartefacts": True}))
    tp = fp = fn = 0
    for k, seed in enumerate(seeds):
        image, truth = simulate_image(**spec.simulation(k, seed))
        table = extractor.extract(image)
        labels = np.asarray(IslandTruth(table, truth).classes)
        fake = np.asarray(table["sourcenessId"]) == 3
        spurious = labels == "spurious"
        tp += int(np.sum(fake & spurious))
        fp += int(np.sum(fake & ~spurious))
        fn += int(np.sum(~fake & spurious))
    return {
        "spurious_precision": tp / (tp + fp) if tp + fp else None,
        "spurious_recall": tp / (tp + fn) if tp + fn else None,
    }


def _peaks_and_labels(classifier: Any, data: Any) -> dict[str, Any]:
    """Fitted components vs true peaks on real islands, and the <n>C_<m>P labels the classifier gives."""
    agree = total = 0
    labels: Counter[str] = Counter()
    for table, truth in zip(data.tables, data.truths, strict=True):
        labelled = IslandTruth(table, truth)
        for i in range(len(table)):
            if labelled.classes[i] != "spurious":
                total += 1
                agree += int(max(int(table["nComponents"][i]), 1) == max(labelled.n_peaks(i), 1))
        classified = classifier.classify(table)
        groups = {int(g): str(lab) for g, lab in zip(classified["source_group"], classified["rgz_label"], strict=True)}
        labels.update(lab for g, lab in groups.items() if g >= 0)
    return {"peak_count_agreement": agree / total if total else None, "rgz_label_counts": dict(sorted(labels.items()))}


def run(model: str | None = None) -> dict[str, Any]:
    classifier = load_classifier(model)
    try:
        classifier.check_extraction(CLASSIFY_EXTRACTION, what="the benchmark's extraction")
    except ExtractionMismatchError as exc:
        raise SystemExit(str(exc)) from None
    trained_on = set(classifier.stamp["training"]["spec"]["seeds"]) | set(
        classifier.stamp["training"]["spec"]["validation_seeds"]
    )
    out: dict[str, Any] = {
        "benchmark": "classification",
        "machine": machine_info(),
        "model_version": classifier.stamp["model_version"],
        "extraction": {
            "non_default": CLASSIFY_EXTRACTION.model_dump(mode="json", exclude_defaults=True),
            "extendedsearch": CLASSIFY_EXTRACTION.extendedsearch,
            "mergesources": CLASSIFY_EXTRACTION.mergesources,
            "digest": extraction_digest(CLASSIFY_EXTRACTION),
        },
        "goals": {"compact_vs_extended_accuracy": 0.90, "artefact_near_bright_recall": 0.80},
        "results": {},
    }
    for name, (spec, seeds) in SETS.items():
        if trained_on & set(seeds):
            raise SystemExit(f"held-out seeds {sorted(trained_on & set(seeds))} were used in training")
        start = time.perf_counter()
        data = build_training_set(spec, seeds, extraction=CLASSIFY_EXTRACTION)
        built = time.perf_counter() - start
        start = time.perf_counter()
        metrics = evaluate(classifier, data)
        scored = time.perf_counter() - start
        metrics.update(_peaks_and_labels(classifier, data))
        metrics["rule_based_artefact_flag"] = _rule_baseline(spec, seeds)
        metrics["seeds"] = list(seeds)
        metrics["simulation"] = spec.simulation(0, seeds[0]) | {
            "sidelobe_levels": spec.sidelobe_levels,
            "rms_gradients": spec.rms_gradients,
        }
        metrics["seconds"] = {"simulate_extract_label": round(built, 2), "classify": round(scored, 4)}
        out["results"][name] = metrics
        print(
            f"{name}: {metrics['n_sources']} sources, accuracy {metrics['accuracy']:.3f}, compact vs extended "
            f"{metrics['compact_vs_extended_accuracy']:.3f}, artefact recall near bright "
            f"{metrics['artefact_near_bright_recall']:.3f} (n={metrics['artefact_near_bright_n']})"
        )
    shifted = out["results"]["shifted"]
    PNG.write_bytes(
        render_confusion_png(
            shifted["confusion"]["matrix"],
            CLASSES,
            f"model v{out['model_version']}, held-out shifted set ({shifted['n_sources']} sources)",
        )
    )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run, write the JSON and PNG, and return the document (as the other benchmarks' ``main``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Model stamp (.json); default the shipped model")
    args = parser.parse_args(argv if argv is not None else [])
    result = run(args.model)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS} and {PNG}")
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
