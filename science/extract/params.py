"""Extraction parameters under caesar-rest option names (frozen pydantic model, reused as flow parameters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from science.errors import ParameterError
from science.extract.estimators import BkgEstimator
from science.extract.params_after import (
    EngineParams,
    FitOptionParams,
    OutputParams,
    ResidualParams,
    SelectionParams,
)

if TYPE_CHECKING:  # the stages are imported by the factory methods: flow processes that only pass
    # parameters around (the survey's driver, the broker's launcher) skip scipy, astropy.wcs and the stages.
    from science.extract.background import BackgroundEstimator
    from science.extract.extended import ExtendedSearch, ExtendedStage
    from science.extract.fitting import GaussianFitter
    from science.extract.islands import IslandFinder
    from science.extract.nested import NestedFinder
    from science.extract.sourcefit import SourceFitting
    from science.image import Beam

__all__ = ["EXTENDED_METHODS", "SMOOTH_FILTERS", "ExtractionParams"]

#: caesar ``extsfinder`` methods by name and number (SALIENCY-THRESH and WT-THRESH are implemented).
EXTENDED_METHODS = {"WT-THRESH": 1, "SP-HIERCLUST": 2, "ACTIVE-CONTOUR": 3, "SALIENCY-THRESH": 4}
#: caesar ``smoothfilter`` values by name and number.
SMOOTH_FILTERS = {"GAUSSIAN": 1, "GUIDED": 2}


class ExtractionParams(SelectionParams, FitOptionParams, ResidualParams, OutputParams, EngineParams):
    """Compact-source extraction parameters; defaults are caesar-rest's effective (wrapper) defaults.

    Unknown keys are rejected (``extra="forbid"``); instances are immutable and hashable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seedthr: float = Field(5.0, gt=0, description="Seed threshold in σ above the local background (caesar seedthr).")
    mergethr: float = Field(
        2.6, gt=0, description="Flood-fill (merge) threshold in σ, inclusive; ≤ seedthr (caesar mergethr)."
    )
    npixmin: int = Field(5, ge=1, description="Minimum number of pixels of an island (caesar npixmin).")
    compactsearch: bool = Field(True, description="Search compact sources (caesar no-compactsearch turns it off).")
    compactsearchiters: int = Field(
        1, ge=0, le=100, description="Compact-source search iterations (caesar compactsearchiters; 0 finds none)."
    )
    seedthrstep: float = Field(
        0.5, ge=0, le=10, description="Seed threshold decrease per iteration, kept above mergethr (caesar seedthrstep)."
    )
    bkgbox: float = Field(20.0, gt=0, description="Background box side in beams (caesar bkgbox).")
    bkggrid: float = Field(
        0.2, gt=0, le=1, description="Background box step as a fraction of the box (caesar bkggrid)."
    )
    bkgboxpix: bool = Field(False, description="bkgbox is a side in pixels, not beams (caesar bkgboxpix).")
    globalbkg: bool = Field(
        False, description="One background level and rms for the whole image (per tile when tiled; caesar globalbkg)."
    )
    bkg2ndpass: bool = Field(True, description="Recompute the rms on image − background (caesar bkg2ndpass).")
    bkgskipoutliers: bool = Field(
        False,
        description="Estimate the maps again without the islands found on a first estimate (caesar bkgskipoutliers).",
    )
    bkgestimator: BkgEstimator = Field(
        BkgEstimator.MEDIAN,
        description="Box statistic of the maps (caesar bkgestimator): Median (median, 1.4826·MAD), Mean, BiWeight "
        "or ClippedMedian (3σ-clipped median and standard deviation); caesar's numbers 1-4 are accepted.",
    )
    bmaj: float | None = Field(
        None, gt=0, description="User beam major FWHM in arcsec, used only when the header has no beam."
    )
    bmin: float | None = Field(
        None, gt=0, description="User beam minor FWHM in arcsec, used only when the header has no beam."
    )
    bpa: float = Field(0.0, ge=-360, le=360, description="User beam position angle in degrees east of north.")
    tile_size: int = Field(
        0, ge=0, description="Tile core side in pixels for tiled processing; 0 processes the image whole."
    )
    tile_overlap_beams: float | None = Field(
        None,
        gt=0,
        description="Tile overlap in beams; None uses the minimum that makes tiled and untiled results equal.",
    )

    nestedsearch: bool = Field(
        True, description="Search nested blobs inside big islands (off: caesar no-nestedsearch)."
    )
    nested_sourcetobeamthr: float = Field(
        5.0, ge=0, description="Search only islands larger than this many beams (nested-sourcetobeamthr)."
    )
    nested_blobminscale: float = Field(1.0, gt=0, description="Smallest LoG scale in beams (nested-blobminscale).")
    nested_blobmaxscale: float = Field(3.0, gt=0, description="Largest LoG scale in beams (nested-blobmaxscale).")
    nested_blobscalestep: float = Field(1.0, gt=0, description="LoG scale step in beams (nested-blobscalestep).")
    nested_blobpeakzthr: float = Field(5.0, gt=0, description="Blob peak significance (nested-blobpeakzthr).")
    nested_blobpeakzthrmerge: float = Field(2.5, description="Blob flood-fill significance (nested-blobpeakzthrmerge).")
    nested_minmotherdist: float = Field(2.0, ge=0, description="Single blob kept if this far from the mother, px.")
    nested_maxmotherpixmatch: float = Field(
        0.5, gt=0, le=1, description="Single blob kept if it covers less than this fraction of the mother."
    )
    fitsources: bool = Field(False, description="Fit islands with 2-D Gaussian components (caesar fitsources).")
    fit_maxcomponents: int = Field(3, ge=1, le=10, description="Most components per island (fit-maxcomponents).")
    fit_maxnbeams: float = Field(20.0, gt=0, description="Largest island fitted, in beams (fit-maxnbeams).")
    fit_ampllimit: float = Field(0.3, gt=0, description="Relative amplitude bound (fit-ampllimit).")
    fit_sigmalimit: float = Field(0.3, gt=0, lt=1, description="Relative sigma bound (fit-sigmalimit).")
    fit_poslimit: float = Field(3.0, gt=0, description="Centre bound in pixels (fit-poslimit).")
    fit_thetalimit: float = Field(90.0, gt=0, le=180, description="Angle bound in degrees (fit-thetalimit).")
    fit_chi2cut: float = Field(5.0, gt=0, description="Reduced chi2 below which a fit is HQ (fit-chi2cut).")
    fit_nretries: int = Field(10, ge=0, description="Retries with widened bounds (fit-nretries).")
    fit_noretry: bool = Field(False, description="Never retry a fit with fewer components (fit-noretry).")
    fit_noimproveconvergence: bool = Field(
        False, description="Never retry a fit with widened bounds (fit-noimproveconvergence)."
    )
    fit_peakzthrmin: float = Field(
        1.0, ge=0, description="Minimum significance of a deblending peak (fit-peakzthrmin)."
    )
    fit_peakminkern: int = Field(
        3, ge=1, description="Smallest dilation kernel (odd, px) of the deblending peak search (fit-peakminkern)."
    )
    fit_peakmaxkern: int = Field(
        7, ge=1, description="Largest dilation kernel (odd, px) of the deblending peak search (fit-peakmaxkern)."
    )
    fit_peakmultiplicitythr: int = Field(
        1, ge=-1, description="Kernels a peak must be found by (fit-peakmultiplicitythr; -1 = all, 1 = any)."
    )
    fit_peakshifttol: int = Field(
        2, ge=0, description="Distance (px) within which peaks of different kernels match (fit-peakshifttol)."
    )
    extendedsearch: bool = Field(
        True,
        description="Search extended sources (off: caesar no-extendedsearch). Adds about 0.6 s on a 4096² image.",
    )
    extsfinder: str = Field(
        "SALIENCY-THRESH",
        description="Extended-source method (caesar extsfinder): SALIENCY-THRESH (4) or WT-THRESH (1).",
    )
    wtscalemin: int = Field(3, ge=0, le=20, description="Smallest wavelet scale searched by WT-THRESH (wtscalemin).")
    wtscalemax: int = Field(6, ge=1, le=20, description="Largest wavelet scale searched by WT-THRESH (wtscalemax).")
    presmoothing: bool = Field(True, description="Smooth the image before the extended search (off: no-presmoothing).")
    smoothfilter: str = Field("GUIDED", description="Pre-smoothing filter, GUIDED or GAUSSIAN (caesar smoothfilter).")
    guidedfilter_radius: float = Field(
        12.0, ge=1, le=1000, description="Guided filter box side, px, truncated to an integer (guidedfilter-radius)."
    )
    guidedfilter_eps: float = Field(
        0.04, ge=0, le=1000, description="Guided filter ε on the image scaled to [0, 1] (guidedfilter-eps)."
    )
    saliency_thr: float = Field(
        2.8, ge=0, le=10, description="Saliency threshold factor wrt the optimal/median threshold (saliency-thr)."
    )
    saliency_nooptimalthr: bool = Field(
        False, description="Threshold saliency at saliency_thr × median, not optimally (saliency-nooptimalthr)."
    )
    saliency_minreso: int = Field(20, ge=1, le=1000, description="Smallest superpixel size, px (saliency-minreso).")
    saliency_maxreso: int = Field(60, ge=1, le=1000, description="Largest superpixel size, px (saliency-maxreso).")
    saliency_resostep: int = Field(10, ge=1, le=100, description="Superpixel size step, px (saliency-resostep).")
    saliency_nn: float = Field(
        1.0, ge=0, le=1, description="Fraction of least similar superpixels averaged in the saliency (saliency-nn)."
    )
    saliency_usebkgmap: bool = Field(False, description="Add the background map to the saliency (saliency-usebkgmap).")
    saliency_usermsmap: bool = Field(False, description="Add the rms map to the saliency (saliency-usermsmap).")
    saliency_userobustpars: bool = Field(
        False, description="Superpixel medians instead of means in the saliency (saliency-userobustpars)."
    )
    sp_size: int = Field(20, ge=5, le=10000, description="SP-HIERCLUST superpixel size (sp-size); not used here.")
    sp_beta: float = Field(
        1.0, gt=0, description="SLIC regularisation (sp-beta); accepted, unused: superpixels are a regular grid here."
    )
    sp_minarea: int = Field(
        10, ge=1, le=10000, description="SLIC minimum superpixel area (sp-minarea); accepted, unused (regular grid)."
    )
    extended_minsnr: float = Field(
        5.0,
        ge=0,
        description="Integrated S/N outside compact islands an extended source needs (not in caesar; 0 keeps all).",
    )
    mergesources: bool = Field(
        True, description="Merge touching compact and extended sources, caesar morphology (off: no-mergesources)."
    )

    @field_validator("bkgestimator", mode="before")
    @classmethod
    def _estimator_name(cls, value: Any) -> BkgEstimator:
        return BkgEstimator.from_option(value)

    @field_validator("extsfinder", "smoothfilter", mode="before")
    @classmethod
    def _method_name(cls, value: Any, info: Any) -> Any:
        names = EXTENDED_METHODS if info.field_name == "extsfinder" else SMOOTH_FILTERS
        if isinstance(value, int | float) and not isinstance(value, bool):
            by_number = {number: name for name, number in names.items()}
            if value not in by_number:
                raise ValueError(f"must be one of {sorted(names)} or {sorted(by_number)}, got {value!r}")
            return by_number[int(value)]
        if isinstance(value, str):
            name = value.strip().upper()
            if name.isdigit():
                return cls._method_name(int(name), info)
            if name not in names:
                raise ValueError(f"must be one of {sorted(names)}, got {value!r}")
            if info.field_name == "extsfinder" and name not in ("SALIENCY-THRESH", "WT-THRESH"):
                raise ValueError(f"{name} is not implemented; SALIENCY-THRESH and WT-THRESH are")
            return name
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ExtractionParams:
        if self.mergethr > self.seedthr:
            raise ValueError(f"mergethr ({self.mergethr}) must not exceed seedthr ({self.seedthr})")
        for lo, hi in (("saliency_minreso", "saliency_maxreso"), ("wtscalemin", "wtscalemax")):
            if getattr(self, lo) > getattr(self, hi):
                raise ValueError(f"{lo} ({getattr(self, lo)}) must not exceed {hi} ({getattr(self, hi)})")
        if (
            self.fit_peakminkern > self.fit_peakmaxkern
            or self.fit_peakminkern % 2 == 0
            or self.fit_peakmaxkern % 2 == 0
        ):
            raise ValueError(
                f"fit_peakminkern ({self.fit_peakminkern}) and fit_peakmaxkern ({self.fit_peakmaxkern}) must be odd,"
                " the first not above the second"
            )
        if self.fit_peakmultiplicitythr == 0:
            raise ValueError("fit_peakmultiplicitythr must be -1 (every kernel) or at least 1")
        if self.bkgislandcorrection and (self.bkgskipoutliers or self.bkgestimator is not BkgEstimator.MEDIAN):
            raise ValueError(
                "bkgislandcorrection corrects the Median estimator's boxes for the islands in them: it needs "
                f"bkgestimator Median (got {self.bkgestimator.value}) and no bkgskipoutliers (which leaves them out)"
            )
        if (self.bmaj is None) != (self.bmin is None):
            raise ValueError("bmaj and bmin must be given together")
        if self.bmaj is not None and self.bmin is not None and self.bmin > self.bmaj:
            raise ValueError(f"bmin ({self.bmin}) must not exceed bmaj ({self.bmaj})")
        return self

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> ExtractionParams:
        """Validate a mapping (e.g. a caesar-rest job's options).

        Raises
        ------
        ParameterError
            Naming every unknown or invalid key and what is allowed.
        """
        try:
            return cls.model_validate(cls.normalise_options(values))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}" for err in exc.errors()
            )
            raise ParameterError(
                f"invalid extraction parameters: {problems}", allowed=sorted(cls.model_fields)
            ) from exc

    @classmethod
    def normalise_options(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """caesar-rest option names → field names: ``--fit-maxnbeams`` → ``fit_maxnbeams``; ``no-X: true`` → ``X: false``."""
        out: dict[str, Any] = {}
        for key, value in values.items():
            name = str(key).lstrip("-").replace("-", "_")
            if name.startswith("no_") and name[3:] in cls.model_fields and name not in cls.model_fields:
                out[name[3:]] = not _truthy(value)
            elif value is None and name in cls.model_fields and cls.model_fields[name].annotation is bool:
                out[name] = True  # a bare caesar-rest flag
            else:
                out[name] = value
        return out

    def user_beam(self) -> Beam | None:
        """The user beam, or None when ``bmaj``/``bmin`` are not set."""
        if self.bmaj is None or self.bmin is None:
            return None
        from science.image import Beam

        return Beam(self.bmaj, self.bmin, self.bpa)

    def background_estimator(self) -> BackgroundEstimator:
        """The configured :class:`BackgroundEstimator`."""
        from science.extract.background import BackgroundEstimator

        return BackgroundEstimator(
            box_beams=self.bkgbox,
            grid=self.bkggrid,
            second_pass=self.bkg2ndpass,
            estimator=self.bkgestimator,
            box_in_pixels=self.bkgboxpix,
            local=not self.globalbkg,
        )

    def source_fitting(self) -> SourceFitting:
        """The configured :class:`SourceFitting` (which sources are fitted, from which start)."""
        from science.extract.sourcefit import SourceFitting

        level = None if self.fit_estimatedbkg else self.fit_bkg
        return SourceFitting(self.gaussian_fitter(), self.fit_usenestedascomponents, self.fit_useellipsecuts, level)

    def gaussian_fitter(self) -> GaussianFitter:
        """The configured :class:`GaussianFitter`."""
        from science.extract.fitting import GaussianFitter

        return GaussianFitter(
            max_components=self.fit_maxcomponents,
            max_nbeams=self.fit_maxnbeams,
            ampl_limit=self.fit_ampllimit,
            sigma_limit=self.fit_sigmalimit,
            pos_limit=self.fit_poslimit,
            theta_limit=self.fit_thetalimit,
            chi2_cut=None if self.fit_nochi2cut else self.fit_chi2cut,
            **self.fit_bounds(),
            nretries=0 if self.fit_noimproveconvergence else self.fit_nretries,
            fewer_retry=not self.fit_noretry,
            peak_zthr=self.fit_peakzthrmin,
            peak_kernels=tuple(range(self.fit_peakminkern, self.fit_peakmaxkern + 1, 2)),
            peak_multiplicity=self.fit_peakmultiplicitythr,
            peak_shift_tol=self.fit_peakshifttol,
            fix_unresolved=self.fit_fixunresolved,
            fewer_zthr=self.seedthr,
        )

    def nested_finder(self) -> NestedFinder:
        """The configured :class:`NestedFinder`."""
        from science.extract.nested import NestedFinder

        return NestedFinder(
            source_to_beam_thr=self.nested_sourcetobeamthr,
            min_scale=self.nested_blobminscale,
            max_scale=self.nested_blobmaxscale,
            scale_step=self.nested_blobscalestep,
            peak_zthr=self.nested_blobpeakzthr,
            merge_zthr=self.nested_blobpeakzthrmerge,
            min_mother_dist=self.nested_minmotherdist,
            max_mother_pix_match=self.nested_maxmotherpixmatch,
            npixmin=self.npixmin,
        )

    def extended_stage(self) -> ExtendedStage | None:
        """The configured extended search and merge, or None when both are off."""
        from science.extract.extended import ExtendedFinder, ExtendedStage

        if not (self.extendedsearch or self.mergesources):
            return None
        finder: ExtendedSearch | None = None
        if self.extendedsearch and self.extsfinder == "WT-THRESH":
            from science.extract.wavelet import WaveletFinder

            smoothing = (self.presmoothing, self.smoothfilter, int(self.guidedfilter_radius), self.guidedfilter_eps)
            finder = WaveletFinder(
                self.background_estimator(), self.island_finder(), self.wtscalemin, self.wtscalemax,
                self.bkgskipoutliers, smoothing, self.npixmin, self.extended_minsnr,
            )  # fmt: skip
        elif self.extendedsearch:
            finder = ExtendedFinder(
                presmoothing=self.presmoothing,
                smooth_filter=self.smoothfilter,
                guided_radius=int(self.guidedfilter_radius),
                guided_eps=self.guidedfilter_eps,
                min_reso=self.saliency_minreso,
                max_reso=self.saliency_maxreso,
                reso_step=self.saliency_resostep,
                knn_factor=self.saliency_nn,
                thr_factor=self.saliency_thr,
                optimal_thr=not self.saliency_nooptimalthr,
                use_bkg_map=self.saliency_usebkgmap,
                use_rms_map=self.saliency_usermsmap,
                robust=self.saliency_userobustpars,
                npixmin=self.npixmin,
                min_snr=self.extended_minsnr,
            )
        nested = self.nested_finder() if self.nestedsearch else None
        return ExtendedStage(finder=finder, merge=self.mergesources, max_nbeams=self.fit_maxnbeams, nested=nested)

    def island_finder(self) -> IslandFinder:
        """The configured :class:`IslandFinder`."""
        from science.extract.islands import IslandFinder

        return IslandFinder(
            seed_thr=self.seedthr,
            merge_thr=self.mergethr,
            min_pixels=self.npixmin,
            interpolate_peaks=self.seedpeakinterp,
        )


def _truthy(value: Any) -> bool:
    """A flag value: true for ``True``, ``None`` (a bare ``--flag``) and the strings true/1/yes/on."""
    if value is None or isinstance(value, bool):
        return value is None or value
    return str(value).strip().lower() in {"true", "1", "yes", "on"}
