"""Parameters of the stages after the compact search (caesar's source selection, fit switches and residual
map), of the input sub-image and of the region files, and this engine's own options (not in caesar).

Mixins of :class:`science.extract.params.ExtractionParams` (same caesar-rest option names: ``no-X`` flags
switch field ``X`` off), kept apart so that each parameter module stays readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from astropy.wcs import WCS

    from science.extract.residual import ResidualMap
    from science.extract.selection import SourceSelection
    from science.io.sky_regions import SkyRegions

__all__ = [
    "REMOVED_SOURCE_TYPES",
    "EngineParams",
    "FitOptionParams",
    "OutputParams",
    "ResidualParams",
    "SelectionParams",
]

#: caesar ``res-removedsourcetype`` values by name, with caesar's numbers.
REMOVED_SOURCE_TYPES = {"ALL": -1, "COMPACT": 1, "POINT-LIKE": 2, "EXTENDED": 3}


class EngineParams(BaseModel):
    """This engine's options that caesar lacks: detection at a source's peak rather than a pixel's, box
    statistics corrected for the sources in them, point sources fitted as such, sidelobe artefacts marked.
    Off by default, so that an extraction follows caesar's rules, except ``fit_fixunresolved``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seedpeakinterp: bool = Field(
        False,
        description="Seed also where a local maximum's peak, interpolated between pixels, reaches seedthr: the "
        "threshold applies to a source's peak wherever it falls in its brightest pixel (not in caesar).",
    )
    bkgislandcorrection: bool = Field(
        False,
        description="Correct each box's median and MAD for the fraction of its pixels in islands found on a first "
        "estimate, as that fraction of bright pixels biases them over Gaussian noise: unbiased maps in one "
        "estimate, unlike bkgskipoutliers's two (Median estimator only; not in caesar).",
    )
    fit_fixunresolved: bool = Field(
        True,
        description="Refit components whose size is consistent with the beam as point sources (not in caesar).",
    )
    rejectartefacts: bool = Field(
        False,
        description="Mark faint detections next to much brighter sources as FAKE (sidelobe artefacts; not in caesar).",
    )
    artefact_radiusbeams: float = Field(
        10.0, gt=0, description="Distance from a bright source, in beams, within which faint detections are artefacts."
    )
    artefact_peakratio: float = Field(
        0.06, gt=0, lt=1, description="A detection is an artefact if its peak is below this fraction of a neighbour's."
    )


class FitOptionParams(BaseModel):
    """caesar's switches of the Gaussian fit: parameter bounds, quality cut, nested sources as start components."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fit_noampllimits: bool = Field(False, description="Fit amplitudes without bounds (fit-noampllimits).")
    fit_noposlimits: bool = Field(False, description="Fit centres without bounds (fit-noposlimits).")
    fit_nosigmalimits: bool = Field(False, description="Fit sigmas without bounds, kept >= 0 (fit-nosigmalimits).")
    fit_nothetalimits: bool = Field(False, description="Fit angles without bounds (fit-nothetalimits).")
    fit_fixsigma: bool = Field(False, description="Hold sigmas at their start values (fit-fixsigma).")
    fit_fixtheta: bool = Field(False, description="Hold angles at their start values (fit-fixtheta).")
    fit_nochi2cut: bool = Field(False, description="No reduced-chi2 cut in the fit quality (fit-nochi2cut).")
    fit_usenestedascomponents: bool = Field(
        False, description="Start a fit from the island's nested sources (fit-usenestedascomponents)."
    )
    fit_useellipsecuts: bool = Field(
        False, description="Mark FAKE the components whose ellipse compares badly with the beam (fit-useellipsecuts)."
    )
    fit_parboundincreasestep: float = Field(
        0.1, gt=0, description="Bound widening step of each fit retry (fit-parboundincreasestep)."
    )
    fit_freebkg: bool = Field(
        False, description="Fit a constant offset over the background map, within +-mean rms (fit-freebkg)."
    )
    fit_nobkglimits: bool = Field(False, description="With fit-freebkg, the offset is unbounded (fit-nobkglimits).")
    fit_bkg: float | None = Field(
        None,
        description="The fit's background level, Jy/beam, fixed or fit-freebkg's start (fit-bkg; default: "
        "the estimated background; fit-estimatedbkg overrides it).",
    )
    fit_usebkgboxestimate: bool = Field(
        False,
        description="The fit's background from a box around each source, its rms the fit's noise "
        "(fit-usebkgboxestimate; box border: sourcebkgboxborder).",
    )
    fit_estimatedbkg: bool = Field(
        False,
        description="The fit's background is the estimated one (fit-estimatedbkg): always so here, as the fitted "
        "pixels have the background map subtracted.",
    )
    fit_prefit: bool = Field(
        False,
        description="Pre-fit as caesar always does (shapes first, amplitude and centre held; then the full fit with "
        "bounds around the pre-fit values). Off by default here: one fit, bounds around the start values; any "
        "prefit-* option turns it on.",
    )
    prefit_freeampl: bool = Field(False, description="Amplitudes free in the pre-fit (prefit-freeampl).")
    prefit_freepos: bool = Field(False, description="Centres free in the pre-fit (prefit-freepos).")
    prefit_fixsigma: bool = Field(
        False, description="Sigmas held at their start values in the pre-fit (prefit-fixsigma)."
    )
    prefit_fixtheta: bool = Field(
        False, description="Angles held at their start values in the pre-fit (prefit-fixtheta)."
    )
    fit_maxniters: int = Field(
        300,
        ge=1,
        description="Levenberg-Marquardt iterations per fit (fit-maxniters; caesar's 10000 counts Minuit's function "
        "calls).",
    )

    def fit_bounds(self) -> dict[str, Any]:
        """Keyword arguments of :class:`science.extract.fitting.GaussianFitter` for these switches."""
        flags = {
            "ampl": self.fit_noampllimits,
            "pos": self.fit_noposlimits,
            "sigma": self.fit_nosigmalimits,
            "theta": self.fit_nothetalimits,
        }
        return {
            "unbounded": frozenset(group for group, on in flags.items() if on),
            "fix_sigma": self.fit_fixsigma,
            "fix_theta": self.fit_fixtheta,
            "bound_step": self.fit_parboundincreasestep,
            "free_bkg": self.fit_freebkg,
            "bkg_limits": not self.fit_nobkglimits,
            "prefit": self.prefit_hold(),
            "max_iter": self.fit_maxniters,
        }

    def prefit_hold(self) -> frozenset[str] | None:
        """The parameter groups the pre-fit holds at their start values; None: no pre-fit (neither
        ``fit_prefit`` nor any ``prefit_*`` option)."""
        flags = (self.prefit_freeampl, self.prefit_freepos, self.prefit_fixsigma, self.prefit_fixtheta)
        if not (self.fit_prefit or any(flags)):
            return None
        hold = {"ampl": not self.prefit_freeampl, "pos": not self.prefit_freepos}
        hold |= {"sigma": self.prefit_fixsigma, "theta": self.prefit_fixtheta}
        return frozenset(group for group, on in hold.items() if on)


class SelectionParams(BaseModel):
    """caesar's compact-source selection (``selectsources`` and its cuts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    selectsources: bool = Field(
        False, description="Drop line-like islands, tag POINT-LIKE ones (caesar selectsources)."
    )
    boundingboxcut: bool = Field(True, description="Selection: line-like cut on (no-boundingboxcut turns it off).")
    minboundingbox: float = Field(
        2, ge=0, description="Selection: thinnest bounding rectangle kept, px (minboundingbox)."
    )
    circratiocut: bool = Field(True, description="Selection: circularity cut for POINT-LIKE (no-circratiocut).")
    circratiothr: float = Field(0.4, ge=0, le=1, description="Selection: POINT-LIKE circularity ≥ this (circratiothr).")
    elongationcut: bool = Field(True, description="Selection: elongation cut for POINT-LIKE (no-elongationcut).")
    elongationthr: float = Field(
        0.7, ge=0, le=1, description="Selection: POINT-LIKE elongation ≤ this (elongationthr)."
    )
    maxnpixcut: bool = Field(False, description="Selection: pixel-count cut for POINT-LIKE (maxnpixcut).")
    maxnpix: int = Field(1000, ge=0, description="Selection: POINT-LIKE pixel count ≤ this (maxnpix).")
    nbeamscut: bool = Field(True, description="Selection: beam-count cut for POINT-LIKE (no-nbeamscut).")
    nbeamsthr: float = Field(3.0, ge=0, description="Selection: POINT-LIKE beams ≤ this (nbeamsthr).")
    ellipsearearatiocut: bool = Field(
        False, description="Selection: contour-to-fitted-ellipse area cut for POINT-LIKE (ellipsearearatiocut)."
    )
    ellipsearearatiominthr: float = Field(
        0.6, ge=0, description="Selection: POINT-LIKE area ratio ≥ this (ellipsearearatiominthr)."
    )
    ellipsearearatiomaxthr: float = Field(
        1.4, ge=0, description="Selection: POINT-LIKE area ratio ≤ this (ellipsearearatiomaxthr)."
    )

    def source_selection(self) -> SourceSelection:
        """The configured :class:`SourceSelection` (applied when ``selectsources``)."""
        from science.extract.selection import SourceSelection

        return SourceSelection(
            self.boundingboxcut, self.minboundingbox, self.circratiocut, self.circratiothr, self.elongationcut,
            self.elongationthr, self.maxnpixcut, self.maxnpix, self.nbeamscut, self.nbeamsthr,
            self.ellipsearearatiocut, (self.ellipsearearatiominthr, self.ellipsearearatiomaxthr),
        )  # fmt: skip


class OutputParams(BaseModel):
    """caesar's input pixel size (``mappixsize``) and sub-image (``read-subimg``), and region files in sky
    coordinates (``convertregionstowcs``, ``regionwcs``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mappixsize: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="Pixel size in arcsec for an image whose header has none (caesar mappixsize; without it such an "
        "image is refused rather than given caesar's 1 arcsec).",
    )
    read_subimg: bool = Field(False, description="Extract only the pixels [xmin, xmax] x [ymin, ymax] (read-subimg).")
    xmin: int = Field(0, ge=0, description="Sub-image: first column, 0-based (xmin).")
    xmax: int = Field(0, ge=0, description="Sub-image: last column, 0-based; 0: the image's last (xmax).")
    ymin: int = Field(0, ge=0, description="Sub-image: first row, 0-based (ymin).")
    ymax: int = Field(0, ge=0, description="Sub-image: last row, 0-based; 0: the image's last (ymax).")

    convertregionstowcs: bool = Field(False, description="DS9 region files in sky coordinates (convertregionstowcs).")
    regionwcs: str = Field("J2000", description="Sky frame of the region files: J2000, B1950 or GALACTIC (regionwcs).")

    def subimage(self) -> tuple[int, int, int, int] | None:
        """The FITS reader's region ``(y0, y1, x0, x1)`` with ``read_subimg`` (a stop of 0: to the end), else None.
        Catalogue positions stay in the whole image's pixels, as caesar's (its image keeps the offset)."""
        if not self.read_subimg:
            return None
        return self.ymin, self.ymax + 1 if self.ymax else 0, self.xmin, self.xmax + 1 if self.xmax else 0

    @field_validator("regionwcs", mode="before")
    @classmethod
    def _frame(cls, value: Any) -> str:
        from science.io.sky_regions import region_frame

        return region_frame(value)

    def sky_regions(self, wcs: WCS) -> SkyRegions | None:
        """The region files' sky conversion for an image's ``wcs`` (None: image coordinates)."""
        from science.io.sky_regions import SkyRegions

        return SkyRegions(wcs, self.regionwcs) if self.convertregionstowcs else None


class ResidualParams(BaseModel):
    """caesar's residual map (``computeresiduals``): bright and selected compact sources replaced by the
    background, dilated; the extended search then runs on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    computeresiduals: bool = Field(False, description="Extended search on the compact-source residual map.")
    res_zthr: float = Field(5.0, ge=0, description="Residual: seed significance above which a source is removed.")
    res_zhighthr: float = Field(
        10.0, ge=0, description="Residual: seed significance above which a source is removed whatever its type."
    )
    dilatekernsize: int = Field(9, ge=1, le=1001, description="Residual: dilation kernel side, px (made odd).")
    res_removedsourcetype: str = Field(
        "POINT-LIKE", description="Residual: type removed below res-zhighthr: ALL, COMPACT, POINT-LIKE or EXTENDED."
    )
    res_removenested: bool = Field(
        False, description="Residual: below res-zhighthr, remove a source's nested sources, not the source."
    )
    res_bkgaroundsource: bool = Field(
        False, description="Residual: fill with the median around each source, not the background map."
    )
    sourcebkgboxborder: int = Field(
        20, ge=1, description="Residual: border (px) of the box around a source (sourcebkgboxborder)."
    )
    res_pssubtractionmethod: str = Field(
        "DILATION",
        description="Residual: DILATION replaces removed sources by the background; FITMODEL subtracts the fitted "
        "model of fitted ones, none in an extraction: the residual comes before the fit, as in caesar (1, 2 accepted).",
    )

    def residual_map(self) -> ResidualMap:
        """The configured :class:`ResidualMap` (used when ``computeresiduals``)."""
        from science.extract.residual import ResidualMap

        return ResidualMap(
            self.res_zthr,
            self.res_zhighthr,
            self.dilatekernsize,
            self.res_removedsourcetype,
            self.res_removenested,
            self.res_bkgaroundsource,
            self.sourcebkgboxborder,
            self.res_pssubtractionmethod == "FITMODEL",
        )

    @field_validator("res_pssubtractionmethod", mode="before")
    @classmethod
    def _ps_method(cls, value: Any) -> str:
        text = {"1": "DILATION", "2": "FITMODEL"}.get(str(value).strip(), str(value).strip().upper())
        if text not in ("DILATION", "FITMODEL"):
            raise ValueError(f"must be DILATION or FITMODEL (or caesar's 1, 2), got {value!r}")
        return text

    @field_validator("res_removedsourcetype", mode="before")
    @classmethod
    def _source_type(cls, value: Any) -> str:
        by_number = {str(v): k for k, v in REMOVED_SOURCE_TYPES.items()}
        text = str(value).strip().upper()
        if text in REMOVED_SOURCE_TYPES:
            return text
        if text in by_number:
            return by_number[text]
        raise ValueError(f"must be one of {', '.join(REMOVED_SOURCE_TYPES)} (or caesar's -1, 1, 2, 3), got {value!r}")

    @model_validator(mode="after")
    def _thresholds(self) -> ResidualParams:
        if self.res_zhighthr < self.res_zthr:
            raise ValueError(f"res_zhighthr ({self.res_zhighthr}) must be ≥ res_zthr ({self.res_zthr})")
        return self
