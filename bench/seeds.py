"""Completeness at S/N ≥ 5 over several simulated images: this engine's detection options vs Aegean.

One image decides a completeness difference of a few sources by luck (which S/N 5.0–5.2 sources a noise
map lifts over the threshold). ``python -m bench.seeds`` simulates the extraction benchmark's image with
several random seeds (same settings as :data:`bench.extraction.SIM`), runs Aegean and this engine in
several configurations on each (and on Aegean's own background and noise maps, which
leaves the detection and fitting to compare), and pools the paired comparison: the S/N ≥ 5 sources
only one of the two finds, summed over the images, with the exact two-sided sign test. Nothing is timed
(:mod:`bench.extraction` times the finders). Results go to ``bench/results/extraction_seeds.json``.

The seeds come in two groups: ``SELECTION`` (42-46), on which settings were compared and chosen (the
artefact flags' axis-ratio limit; the islands grown by a pixel in ``bkgislandcorrection``'s source counts,
chosen on 42; a 30-beam ClippedMedian box looked better there and did not hold up on the others), and
``VALIDATION`` (47-51), images seen only after those choices. Each group is pooled on its own as well as
all together, so a setting picked for one group's luck shows on the other. ``cirasa_no_artefact_flags``
is ``cirasa`` with the artefact rejection off, as Aegean has none: what detection alone finds, at the
reliability that costs. ``cirasa_caesar_detection`` detects as caesar does (pixel seeds on caesar's maps).

Each split also says why the other finder missed a source (``why``, :func:`bench.scoring.split_causes`):
``below_seed`` when its peak is under the other's seed threshold on the other's noise map but over it on the
finder's own (the two noise maps' estimation noise decides which S/N ≈ 5 sources cross), ``lost_after_seed``
when both maps seed it (for this engine: the fitting or the artefact flags lost it).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.extraction import SIM, VARIANTS, cirasa_params, run_cirasa
from bench.peers import MAPS_FILE, run_aegean
from bench.scoring import paired, score, split_causes

RESULTS = Path(__file__).parent / "results" / "extraction_seeds.json"
SELECTION = (42, 43, 44, 45, 46)
VALIDATION = (47, 48, 49, 50, 51)
SEEDS = SELECTION + VALIDATION
#: This engine's configurations: result key → the settings that differ from :data:`bench.extraction.CIRASA`
#: (the timed variants' own, from :data:`bench.extraction.VARIANTS`).
CONFIGS: dict[str, dict[str, Any]] = {
    "cirasa": {},
    **{
        key: VARIANTS[key]
        for key in (
            "cirasa_caesar_detection",
            "cirasa_with_2ndpass",
            "cirasa_with_10_retries",
            "cirasa_skipoutliers",
            "cirasa_clipped",
        )
    },
    "cirasa_no_artefact_flags": {"rejectartefacts": False},
    "cirasa_on_aegean_maps": {"maps": "Aegean's (BANE)"},  # only the detection and fitting differ from Aegean's
}
ON_AEGEAN_MAPS = "cirasa_on_aegean_maps"


def _run(key: str, image: Path, out: Path, aegean: Path) -> None:
    if key == ON_AEGEAN_MAPS:
        run_cirasa(image, out, maps_from=aegean)
    else:
        run_cirasa(image, out, CONFIGS[key])


def _maps(key: str, data: Any, beam_pixels: float, aegean_maps: tuple[Any, Any]) -> tuple[Any, Any]:
    """The background and noise maps a configuration detects on."""
    from science.extract.pipeline import background_maps

    if key == ON_AEGEAN_MAPS:
        return aegean_maps
    maps = background_maps(data, cirasa_params(**CONFIGS[key]), beam_pixels)
    return maps.level, maps.rms


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
    from science.io.fits import load_image

    loaded = load_image(path)
    beam_pixels = loaded.beam.size_pixels(loaded.pixscale_arcsec)
    aegean_maps = (np.load(aegean / MAPS_FILE.format(kind="bkg")), np.load(aegean / MAPS_FILE.format(kind="rms")))
    for key in CONFIGS:
        out = work / f"{key}-{seed}"
        out.mkdir()
        _run(key, path, out, aegean)
        result = {k: v for k, v in score("cirasa", out, truth).items() if k in keep}
        maps = _maps(key, loaded.data, beam_pixels, aegean_maps)
        causes = split_causes(out, aegean, "aegean", truth, loaded.data, maps, aegean_maps)
        row[key] = {**result, "vs_aegean_snr5": {**paired(out, aegean, "aegean", truth), "why": causes}}
    path.unlink()
    return row


def pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration: completeness over all images, the summed split with its sign test, and the worst
    image's completeness at S/N ≥ 7 and reliability (the goals hold per image)."""
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
            "completeness_snr7_min": min(r[key]["completeness_snr7"] for r in rows),
            "reliability_min": min(r[key]["reliability"] for r in rows),
            "vs_aegean_snr5": {
                "only_aegean": only_aegean,
                "only_this": only_this,
                "p_value": float(f"{binomtest(only_this, n, 0.5).pvalue:.2g}") if n else 1.0,
                "why": {
                    side: {
                        cause: sum(r[key]["vs_aegean_snr5"]["why"][side][cause] for r in rows)
                        for cause in ("below_seed", "lost_after_seed", "other")
                    }
                    for side in ("only_this", "only_aegean")
                },
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
        "configs": CONFIGS,
        "selection_seeds": list(SELECTION),
        "validation_seeds": list(VALIDATION),
        "results": pooled(rows),
        "results_by_group": {
            name: pooled(part)
            for name, group in (("selection", SELECTION), ("validation", VALIDATION))
            if (part := [r for r in rows if r["seed"] in group])
        },
        "per_image": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


if __name__ == "__main__":
    seeds = tuple(int(s) for s in sys.argv[1:]) or SEEDS
    print(json.dumps(main(seeds)["results"], indent=2))
