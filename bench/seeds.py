"""Completeness at S/N ≥ 5 over several simulated images: this engine's background options vs Aegean.

One image decides a completeness difference of a few sources by luck (which S/N 5.0–5.2 sources a noise
map lifts over the threshold). ``python -m bench.seeds`` simulates the extraction benchmark's image with
several random seeds (same settings as :data:`bench.extraction.SIM`), runs Aegean and this engine in
several caesar background configurations on each (and on Aegean's own background and noise maps, which
leaves the detection and fitting to compare), and pools the paired comparison: the S/N ≥ 5 sources
only one of the two finds, summed over the images, with the exact two-sided sign test. Nothing is timed
(:mod:`bench.extraction` times the finders). Results go to ``bench/results/extraction_seeds.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.extraction import SIM, run_cirasa
from bench.peers import run_aegean
from bench.scoring import paired, score

RESULTS = Path(__file__).parent / "results" / "extraction_seeds.json"
SEEDS = (42, 43, 44, 45, 46)
#: This engine's configurations: result key → (caesar ``bkgskipoutliers``, ``bkgestimator``, ``bkgbox``).
CONFIGS: dict[str, tuple[bool, str, float]] = {
    "cirasa": (False, "Median", 20.0),
    "cirasa_skipoutliers": (True, "Median", 20.0),
    "cirasa_clipped": (True, "ClippedMedian", 20.0),
    "cirasa_on_aegean_maps": (False, "Median", 20.0),  # the maps are Aegean's (BANE's): only detection differs
}
ON_AEGEAN_MAPS = "cirasa_on_aegean_maps"


def one_image(seed: int, work: Path) -> dict[str, Any]:
    """Aegean and every configuration on the image of ``seed``: completeness, reliability and the split."""
    from science.io.fits import write_image
    from science.simulate import simulate_image

    image, truth = simulate_image(**{**SIM, "seed": seed})  # type: ignore[arg-type]
    path = write_image(work / f"sim{seed}.fits", image)
    real = truth[truth["class"] != "spurious"]
    row: dict[str, Any] = {"seed": seed, "n_real_snr5": int((real["snr"] >= 5).sum())}
    aegean = work / f"aegean-{seed}"
    aegean.mkdir()
    run_aegean(path, aegean)
    keep = ("completeness_snr5", "completeness_snr7", "reliability")
    row["aegean"] = {k: v for k, v in score("aegean", aegean, truth).items() if k in keep}
    for key, (skip, estimator, box) in CONFIGS.items():
        out = work / f"{key}-{seed}"
        out.mkdir()
        if key == ON_AEGEAN_MAPS:
            run_cirasa(path, out, maps_from=aegean)
        else:
            run_cirasa(path, out, skip_outliers=skip, estimator=estimator, box_beams=box)
        result = {k: v for k, v in score("cirasa", out, truth).items() if k in keep}
        row[key] = {**result, "vs_aegean_snr5": paired(out, aegean, "aegean", truth)}
    path.unlink()
    return row


def pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration: completeness over all images, and the summed split with its sign test."""
    from scipy.stats import binomtest

    total = sum(r["n_real_snr5"] for r in rows)

    def found(key: str) -> int:
        return sum(round(r[key]["completeness_snr5"] * r["n_real_snr5"]) for r in rows)

    summary: dict[str, Any] = {"aegean": {"completeness_snr5": round(found("aegean") / total, 4)}}
    for key in CONFIGS:
        only_aegean = sum(r[key]["vs_aegean_snr5"]["only_aegean"] for r in rows)
        only_this = sum(r[key]["vs_aegean_snr5"]["only_this"] for r in rows)
        n = only_aegean + only_this
        summary[key] = {
            "completeness_snr5": round(found(key) / total, 4),
            "images_at_least_aegean": sum(
                r[key]["completeness_snr5"] >= r["aegean"]["completeness_snr5"] for r in rows
            ),
            "vs_aegean_snr5": {
                "only_aegean": only_aegean,
                "only_this": only_this,
                "p_value": float(f"{binomtest(only_this, n, 0.5).pvalue:.2g}") if n else 1.0,
            },
        }
    return {"n_real_snr5": total, **summary}


def main(seeds: tuple[int, ...] = SEEDS) -> dict[str, Any]:
    from bench.machine import machine_info

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-seeds-") as tmp:
        for seed in seeds:
            rows.append(one_image(seed, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    doc = {
        "benchmark": "extraction_seeds",
        "machine": machine_info(),
        "image": {k: (list(v) if isinstance(v, tuple) else v) for k, v in SIM.items() if k != "seed"},
        "seeds": list(seeds),
        "configs": {
            k: {"maps": "Aegean's (BANE)"}
            if k == ON_AEGEAN_MAPS
            else {"bkgskipoutliers": s, "bkgestimator": e, "bkgbox": b}
            for k, (s, e, b) in CONFIGS.items()
        },
        "results": pooled(rows),
        "per_image": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


if __name__ == "__main__":
    seeds = tuple(int(s) for s in sys.argv[1:]) or SEEDS
    print(json.dumps(main(seeds)["results"], indent=2))
