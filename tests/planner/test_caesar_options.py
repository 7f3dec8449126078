"""caesar-rest job options reach the extraction flows as ExtractionParams fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from planner.adapters.prefect_pool import build_flow_parameters
from planner.engine.lifecycle import LaunchSpec
from planner.wire.caesar import (
    EXTRACTION_FIELDS,
    MAP_OPTIONS,
    RUN_OPTIONS,
    app_schemas,
    check_options,
    extraction_params,
    map_options,
    unapplied_options,
)
from science.extract.params import ExtractionParams
from science.io.maps import MAP_OPTIONS as SCIENCE_MAP_OPTIONS


def _spec(options: Mapping[str, object]) -> LaunchSpec:
    """The launch of an extract-image job with these caesar-rest options."""
    return LaunchSpec(
        session_id="s1",
        platform="local",
        work_pool="cirasa-local",
        executable={"flow": "extract-image", "inputs": ["/data/a.fits"], "options": dict(options)},
        cores=2,
        memory_gib=4,
        start=datetime.now(UTC),
        duration=timedelta(hours=1),
    )


def test_the_brokers_field_list_is_the_extractions() -> None:
    assert set(ExtractionParams.model_fields) == EXTRACTION_FIELDS
    assert MAP_OPTIONS == SCIENCE_MAP_OPTIONS
    described = {o.replace("-", "_") for o in app_schemas()["caesar"]["describe"]}
    assert described >= MAP_OPTIONS  # all are caesar-rest options


def test_every_caesar_option_the_engine_implements_is_forwarded() -> None:
    forwarded = set()
    for option in app_schemas()["caesar"]["describe"]:
        name = option.replace("-", "_")
        if name in EXTRACTION_FIELDS or (name.startswith("no_") and name[3:] in EXTRACTION_FIELDS):
            forwarded.add(option)
    # the stage switches and thresholds users actually send
    assert {"no-extendedsearch", "no-mergesources", "no-nestedsearch", "no-bkg2ndpass", "fitsources"} <= forwarded
    assert {"seedthr", "mergethr", "fit-maxnbeams", "saliency-thr", "nested-blobminscale"} <= forwarded


def test_names_flags_and_negations_map_to_valid_params() -> None:
    options = {
        "seedthr": 4.5,
        "--fit-maxnbeams": 10,
        "no-extendedsearch": True,
        "no-mergesources": "false",
        "fitsources": None,
        "no-nestedsearch": False,
        "no-compactsearch": True,
        "bkgskipoutliers": None,
        "bkgestimator": "ClippedMedian",
        "save-regions": True,
        "nthreads": 4,
        "output_dir": "/data/out",
    }
    params = extraction_params(options)
    assert params == {
        "seedthr": 4.5,
        "fit_maxnbeams": 10,
        "extendedsearch": False,
        "mergesources": True,
        "fitsources": True,
        "nestedsearch": True,
        "compactsearch": False,
        "bkgskipoutliers": True,
        "bkgestimator": "ClippedMedian",
    }
    parsed = ExtractionParams.model_validate(params)
    assert not parsed.extendedsearch and parsed.fitsources and parsed.fit_maxnbeams == 10 and parsed.bkgskipoutliers
    assert parsed.bkgestimator == "ClippedMedian"
    assert parsed.background_estimator().estimator == "ClippedMedian"


def test_launch_parameters_carry_the_mapped_options() -> None:
    parameters = build_flow_parameters(_spec({"no-extendedsearch": True}))
    assert parameters["image"] == "/data/a.fits"
    assert parameters["params"] == {"extendedsearch": False}


def test_map_options_reach_the_extract_flow_only() -> None:
    options = {"save-fits": None, "--save-bkgmap": True, "save-rmsmap": "false", "save-regions": True, "seedthr": 5}
    assert map_options(options) == ["save_bkgmap", "save_fits"]
    spec = _spec(options)
    parameters = build_flow_parameters(spec)
    assert parameters["save"] == ["save_bkgmap", "save_fits"]
    assert "save_fits" not in parameters["params"]
    survey = dataclasses.replace(spec, executable={**spec.executable, "flow": "survey-reprocess"})
    assert "save" not in build_flow_parameters(survey)


def test_options_this_engine_does_not_implement_are_named_for_the_flow() -> None:
    options = {
        "activecontour": True,
        "--fit-improveerrors": True,
        "nthreads": 4,  # how caesar runs, not what it finds
        "seedthr": 5,
        "no-extendedsearch": True,
        "save-fits": True,
        "output_dir": "/x",
    }
    assert unapplied_options(options) == ["activecontour", "fit-improveerrors"]
    described = set(app_schemas()["caesar"]["describe"])
    assert described >= RUN_OPTIONS
    spec = _spec(options)
    assert build_flow_parameters(spec)["unapplied"] == ["activecontour", "fit-improveerrors"]


def test_caesars_tile_split_sets_this_engines_tile_size() -> None:
    assert extraction_params({"tilesplit": True, "tilesize": 1024, "seedthr": 4})["tile_size"] == 1024
    assert extraction_params({"--tilesplit": None, "--tilesize": "256"}) == {"tile_size": 256}
    assert "tile_size" not in extraction_params({"tilesize": 1024})  # without tilesplit caesar does not tile
    assert "tile_size" not in extraction_params({"tilesplit": True, "tilesize": 0})  # caesar: 0 = no split
    assert extraction_params({"tilesplit": True, "tilesize": 256, "tile_size": 2048})["tile_size"] == 2048
    assert extraction_params({"tilesplit": "false", "tilesize": 256}) == {}
    assert extraction_params({"tilesplit": True, "tilesize": "big"})["tile_size"] == "big"  # refused downstream


def test_option_values_are_typed_as_caesar_rest_types_them() -> None:
    # from caesar's command line, a form or XML every value is a string; Prefect checks the flow's types
    params = extraction_params({"seedthr": "8.0", "fit-maxcomponents": "3", "fitsources": "true", "npixmin": "x"})
    assert params == {"seedthr": 8.0, "fit_maxcomponents": 3, "fitsources": True, "npixmin": "x"}


def test_the_extractions_own_field_names_are_accepted_beside_caesar_rests() -> None:
    # the flows pass their settings under the extraction's names (process-image's typed form)
    assert check_options("caesar", {"tile_size": 512, "fit_maxcomponents": 2, "rejectartefacts": True}) == []
    assert [p.values["option"] for p in check_options("caesar", {"tile_sizes": 512})] == ["tile_sizes"]
