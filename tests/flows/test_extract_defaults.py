"""extract-image keeps its own extraction defaults (tiles of 512 px) under the fields a caller sets: a
caesar-rest job sends only the options it was given, as a dict."""

from __future__ import annotations

from flows.extract import DEFAULT_PARAMS, over_defaults
from science.extract.params import ExtractionParams


def test_a_job_giving_some_options_keeps_the_flows_tiling() -> None:
    given = ExtractionParams.model_validate({"seedthr": 4.0, "bkgestimator": "ClippedMedian", "fitsources": True})
    merged = over_defaults(given)
    assert merged.tile_size == 512 and DEFAULT_PARAMS.tile_size == 512
    assert (merged.seedthr, merged.bkgestimator.value, merged.fitsources) == (4.0, "ClippedMedian", True)
    assert merged.mergethr == ExtractionParams().mergethr  # neither set by the job nor by the flow


def test_fields_the_caller_sets_win_even_at_the_library_default() -> None:
    assert over_defaults(ExtractionParams.model_validate({"tile_size": 0})).tile_size == 0
    assert over_defaults(DEFAULT_PARAMS) == DEFAULT_PARAMS
    assert over_defaults(ExtractionParams(), ExtractionParams(tile_size=256, seedthr=6.0)).seedthr == 6.0


def test_process_image_keeps_its_fitting_and_tiling_under_a_partial_params() -> None:
    from flows.process import DEFAULT_PARAMS as PROCESS

    merged = over_defaults(ExtractionParams.model_validate({"seedthr": 4.5}), PROCESS)
    assert (merged.tile_size, merged.fitsources, merged.seedthr) == (512, True, 4.5)


def test_survey_reprocess_tiles_only_images_above_4096_and_keeps_it_under_partial_params() -> None:
    from flows.survey import DEFAULT_PARAMS as SURVEY

    assert ExtractionParams(tile_size=4096) == SURVEY  # bench/survey.py's plain peer runs the same settings
    merged = over_defaults(ExtractionParams.model_validate({"fitsources": True}), SURVEY)
    assert (merged.tile_size, merged.fitsources) == (4096, True)
