"""caesar-rest application options: the schema of every app and the checks caesar-rest makes.

The schema is ``caesar_app_options.json`` beside this module, a copy of the ``describe`` output of
each caesar-rest app configurator (SKA-INAF/caesar-rest; see the ``_source`` note inside it).
:func:`check_options` returns one problem per unknown option or bad value, never raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

OPTIONS_FILE = "caesar_app_options.json"


@dataclass(frozen=True)
class OptionProblem:
    """One message item's worth: kind, template with ``${name}`` placeholders, and values."""

    kind: str
    template: str
    values: dict[str, str] = field(default_factory=dict)


@cache
def app_schemas() -> dict[str, Any]:
    """Every app's entry (``cmd``, ``default_args``, ``describe``...), keyed by app name."""
    text = resources.files("planner.wire").joinpath(OPTIONS_FILE).read_text(encoding="utf-8")
    apps: dict[str, Any] = json.loads(text)["apps"]
    return apps


# Options of ours, not caesar's: where the job writes its products. The extraction's own field names
# (:data:`EXTRACTION_FIELDS`: ``tile_size``, ``fit_maxcomponents``…) are accepted too: the flows pass settings
# under those, and the extraction's validation checks their values.
OWN_OPTIONS = frozenset({"output_dir"})


def _bad(option: str, value: Any, expected: str) -> OptionProblem:
    return OptionProblem(
        "urn:invalid-value",
        "Option [${option}] has the bad value [${value}]; expected ${expected}",
        {"option": option, "value": str(value), "expected": expected},
    )


def _coerce(kind: str, value: Any) -> Any:
    """The value as caesar-rest types it; strings from XML or forms are converted. Raises ValueError."""
    if kind == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(value)
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if kind == "none":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(value)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(value)
    return str(value)


EXPECTED = {"int": "an integer", "float": "a number", "none": "true or false (a flag)", "str": "a string"}


def check_options(app: str, options: dict[str, Any]) -> list[OptionProblem]:
    """Check ``options`` of ``app`` as caesar-rest's ``validate_options`` does, plus types and enums."""
    apps = app_schemas()
    if app not in apps:
        return [
            OptionProblem(
                "urn:invalid-value",
                "Unknown caesar-rest app [${app}]; known apps: ${known}",
                {"app": app, "known": ", ".join(sorted(apps))},
            )
        ]
    describe: dict[str, Any] = apps[app]["describe"]
    problems: list[OptionProblem] = []
    for name in sorted(set(options) - set(describe) - OWN_OPTIONS - EXTRACTION_FIELDS):
        problems.append(
            OptionProblem(
                "urn:invalid-value",
                "Unknown option [${option}] for app [${app}]",
                {"option": name, "app": app},
            )
        )
    for name, spec in describe.items():
        if name not in options:
            if spec.get("mandatory"):
                problems.append(
                    OptionProblem(
                        "urn:missing-required-value",
                        "Option [${option}] is required by app [${app}]",
                        {"option": name, "app": app},
                    )
                )
            continue
        try:
            value = _coerce(spec["type"], options[name])
        except (TypeError, ValueError):
            problems.append(_bad(name, options[name], EXPECTED.get(spec["type"], spec["type"])))
            continue
        allowed = spec.get("allowed_values")
        if spec.get("enum") and allowed and value not in allowed:
            problems.append(_bad(name, options[name], "one of " + ", ".join(str(a) for a in allowed)))
    return problems


#: ExtractionParams fields of the flows (``science.extract.params``), by the names caesar-rest options take
#: once leading dashes are dropped and ``-`` becomes ``_``; a ``no-X`` flag switches field ``X`` off. The
#: broker does not import the science package: tests check this set against ExtractionParams.
EXTRACTION_FIELDS = frozenset(
    {
        "artefact_peakratio", "artefact_radiusbeams", "bkg2ndpass", "bkgbox", "bkgboxpix", "bkgestimator", "bkggrid",
        "bkgskipoutliers", "boundingboxcut", "circratiocut", "circratiothr", "compactsearch", "compactsearchiters",
        "computeresiduals", "convertregionstowcs", "dilatekernsize", "elongationcut", "ellipsearearatiocut",
        "ellipsearearatiomaxthr", "ellipsearearatiominthr",
        "elongationthr", "globalbkg", "maxnpix", "maxnpixcut", "minboundingbox", "nbeamscut", "nbeamsthr",
        "regionwcs", "res_bkgaroundsource", "res_removedsourcetype", "res_removenested", "res_zhighthr",
        "sourcebkgboxborder", "res_zthr", "seedthrstep", "selectsources",
        "bmaj",
        "bmin", "bpa", "seedpeakinterp", "bkgislandcorrection", "mappixsize",
        "extended_minsnr", "extendedsearch", "extsfinder", "fit_ampllimit", "fit_chi2cut", "fit_fixunresolved",
        "fit_maxcomponents", "fit_maxnbeams", "fit_noretry", "fit_nretries", "fit_peakmaxkern", "fit_peakminkern",
        "fit_noampllimits", "fit_noposlimits", "fit_nosigmalimits", "fit_nothetalimits", "fit_fixsigma",
        "fit_freebkg", "fit_nobkglimits", "fit_estimatedbkg", "fit_bkg", "fit_usebkgboxestimate", "fit_prefit",
        "prefit_freeampl", "prefit_freepos", "prefit_fixsigma", "prefit_fixtheta", "fit_maxniters",
        "fit_noimproveconvergence", "wtscalemin", "wtscalemax", "res_pssubtractionmethod",
        "fit_fixtheta", "fit_nochi2cut", "fit_parboundincreasestep", "fit_useellipsecuts",
        "fit_usenestedascomponents", "read_subimg", "xmax", "xmin", "ymax", "ymin",
        "fit_peakmultiplicitythr", "fit_peakshifttol", "fit_peakzthrmin",
        "fit_poslimit", "fit_sigmalimit", "fit_thetalimit", "fitsources", "guidedfilter_eps", "guidedfilter_radius",
        "mergesources", "mergethr", "nested_blobmaxscale", "nested_blobminscale", "nested_blobpeakzthr",
        "nested_blobpeakzthrmerge", "nested_blobscalestep", "nested_maxmotherpixmatch", "nested_minmotherdist",
        "nested_sourcetobeamthr", "nestedsearch", "npixmin", "presmoothing", "rejectartefacts", "saliency_maxreso",
        "saliency_minreso", "saliency_nn", "saliency_nooptimalthr", "saliency_resostep", "saliency_thr",
        "saliency_usebkgmap", "saliency_usermsmap", "saliency_userobustpars", "seedthr", "smoothfilter", "sp_beta",
        "sp_minarea", "sp_size", "tile_overlap_beams", "tile_size",
    }
)  # fmt: skip


#: Applied options whose support is partial or unusual, as ``cirasa options`` says.
APPLIED_NOTES = {
    "extsfinder": "applied: SALIENCY-THRESH, WT-THRESH (ACTIVE-CONTOUR, SP-HIERCLUST refused)",
    "res-pssubtractionmethod": "applied (FITMODEL: as caesar, nothing is fitted yet when the residual is made)",
    "fit-estimatedbkg": "applied, always: the fitted pixels have the estimated background removed",
    "fit-maxniters": "applied: Levenberg-Marquardt iterations per fit (300 here; caesar's 10000 counts Minuit calls)",
    **{
        f"prefit-{name}": "applied: turns the pre-fit on (caesar always pre-fits; off here unless asked for)"
        for name in ("freeampl", "freepos", "fixsigma", "fixtheta")
    },
    "sp-size": "accepted, unused (SP-HIERCLUST is not implemented)",
    "sp-beta": "accepted, unused (superpixels are a regular grid here)",
    "sp-minarea": "accepted, unused (superpixels are a regular grid here)",
}


#: caesar-rest's options about saved maps (``science.io.maps.MAP_OPTIONS``; tests check the two agree): the
#: extract-image flow writes caesar's FITS maps for them and logs those it does not write.
MAP_OPTIONS = frozenset(
    {
        "save_fits", "save_bkgmap", "save_rmsmap", "save_significancemap", "save_residualmap", "save_inputmap",
        "save_saliencymap", "save_segmentedmap",
    }
)  # fmt: skip


#: caesar-rest options about how caesar runs (logging, MPI, threads, its own tiling), not what it finds.
RUN_OPTIONS = frozenset(
    {
        "loglevel", "no-logredir", "no-mpi", "nproc", "nthreads", "fit-usethreads", "fit-printlevel",
        "no-parallelmedian", "tilesplit", "tilesize", "tilestep", "mergeedgesources",
    }
)  # fmt: skip


def unapplied_options(options: dict[str, Any], app: str = "caesar") -> list[str]:
    """The app's options in ``options`` that change caesar's results but this engine does not implement
    (neither extraction fields, nor map outputs, nor :data:`RUN_OPTIONS`): the flow reports them."""
    described = app_schemas().get(app, {}).get("describe", {})
    out = []
    for key in options:
        option = str(key).lstrip("-")
        name = option.replace("-", "_")
        applied = name in EXTRACTION_FIELDS or (name.startswith("no_") and name[3:] in EXTRACTION_FIELDS)
        if option in described and not applied and name not in MAP_OPTIONS and option not in RUN_OPTIONS:
            out.append(option)
    return sorted(out)


def _flag_on(value: Any) -> bool:
    """A caesar-rest flag's value: given bare (None) or true (an unreadable value counts by its truth)."""
    try:
        return value is None or bool(_coerce("none", value))
    except ValueError:
        return bool(value)


def map_options(options: dict[str, Any]) -> list[str]:
    """The job's map options that are on (given bare or true), as ``save_…`` names."""
    names = []
    for key, value in options.items():
        name = str(key).lstrip("-").replace("-", "_")
        if name in MAP_OPTIONS and _flag_on(value):
            names.append(name)
    return sorted(names)


@cache
def _option_types() -> dict[str, str]:
    """caesar's options' types (``int``, ``float``, ``none``, ``str``) by ExtractionParams-style name."""
    described = app_schemas().get("caesar", {}).get("describe", {})
    return {name.replace("-", "_"): str(spec.get("type", "str")) for name, spec in described.items()}


def _typed(kind: str | None, value: Any) -> Any:
    """``value`` as caesar-rest types the option (``"8.0"`` from a form, XML or caesar's command line is 8.0);
    as given when it does not convert (the flow's validation then says what is wrong with it)."""
    if kind is None:
        return value
    try:
        return _coerce(kind, value)
    except (TypeError, ValueError):
        return value


def extraction_params(options: dict[str, Any]) -> dict[str, Any]:
    """The job's options the extraction understands, as ExtractionParams fields.

    ``fit-maxnbeams: 10`` → ``fit_maxnbeams: 10``; ``no-extendedsearch: true`` → ``extendedsearch: false``;
    a flag given bare (``None``) is on; values are typed as caesar-rest's schema types them (``"8.0"`` → 8.0).
    Options about other things (outputs, MPI, saving maps) are left out, but for caesar's own tiling:
    ``tilesplit`` with ``tilesize: N`` (pixels) tiles this engine's run in ``N``-pixel tiles (``tile_size``,
    unless given), with its own overlaps (caesar's ``tilestep`` is not needed).
    """
    out: dict[str, Any] = {}
    flat = {str(key).lstrip("-").replace("-", "_"): value for key, value in options.items()}
    types = _option_types()
    for name, value in flat.items():
        if name in EXTRACTION_FIELDS:
            out[name] = True if value is None else _typed(types.get(name), value)
        elif name.startswith("no_") and name[3:] in EXTRACTION_FIELDS:
            out[name[3:]] = not _flag_on(value)
    size = flat.get("tilesize")
    if "tilesplit" in flat and _flag_on(flat["tilesplit"]) and size is not None and "tile_size" not in out:
        try:
            if int(float(size)) > 0:
                out["tile_size"] = int(float(size))
        except (TypeError, ValueError):
            out["tile_size"] = size  # the flow's validation says what is wrong with it
    return out
