"""Extraction parameters under caesar-rest option names (frozen pydantic model, reused as flow parameters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from science.errors import ParameterError
from science.extract.background import BackgroundEstimator
from science.extract.islands import IslandFinder
from science.image import Beam

__all__ = ["ExtractionParams"]


class ExtractionParams(BaseModel):
    """Compact-source extraction parameters; defaults are caesar-rest's effective (wrapper) defaults.

    Unknown keys are rejected (``extra="forbid"``); instances are immutable and hashable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seedthr: float = Field(5.0, gt=0, description="Seed threshold in σ above the local background (caesar seedthr).")
    mergethr: float = Field(
        2.6, gt=0, description="Flood-fill (merge) threshold in σ, inclusive; ≤ seedthr (caesar mergethr)."
    )
    npixmin: int = Field(5, ge=1, description="Minimum number of pixels of an island (caesar npixmin).")
    bkgbox: float = Field(20.0, gt=0, description="Background box side in beams (caesar bkgbox).")
    bkggrid: float = Field(
        0.2, gt=0, le=1, description="Background box step as a fraction of the box (caesar bkggrid)."
    )
    bkg2ndpass: bool = Field(True, description="Recompute the rms on image − background (caesar bkg2ndpass).")
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

    @model_validator(mode="after")
    def _consistent(self) -> ExtractionParams:
        if self.mergethr > self.seedthr:
            raise ValueError(f"mergethr ({self.mergethr}) must not exceed seedthr ({self.seedthr})")
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
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}" for err in exc.errors()
            )
            raise ParameterError(
                f"invalid extraction parameters: {problems}", allowed=sorted(cls.model_fields)
            ) from exc

    def user_beam(self) -> Beam | None:
        """The user beam, or None when ``bmaj``/``bmin`` are not set."""
        if self.bmaj is None or self.bmin is None:
            return None
        return Beam(self.bmaj, self.bmin, self.bpa)

    def background_estimator(self) -> BackgroundEstimator:
        """The configured :class:`BackgroundEstimator`."""
        return BackgroundEstimator(box_beams=self.bkgbox, grid=self.bkggrid, second_pass=self.bkg2ndpass)

    def island_finder(self) -> IslandFinder:
        """The configured :class:`IslandFinder`."""
        return IslandFinder(seed_thr=self.seedthr, merge_thr=self.mergethr, min_pixels=self.npixmin)
