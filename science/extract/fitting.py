"""Deblending and 2-D Gaussian fitting of island components (caesar ``SourceFitter``, §7).

Each island given (:mod:`science.extract.sourcefit` chooses which, and may give start values) is deblended
into up to ``max_components`` components seeded by its local maxima (caesar's dilation peaks: a pixel that
is the maximum of its neighbourhood inside the island for the smallest of ``peak_kernels``, found within
``peak_shift_tol`` px by ``peak_multiplicity`` of them, ``Z ≥ peak_zthr`` and ≥ ``fewer_zthr``, the seed
threshold; :mod:`science.extract.starts`), brightest first. The background-subtracted island pixels are
fitted with a sum of elliptical Gaussians (offset fixed at 0, the estimated background: caesar
``fit-estimatedbkg``; with ``free_bkg`` a constant offset is fitted too, start 0,
bounds ``[min(vmin, −σ̄), min(vmax, σ̄)]`` as caesar's ``fit-freebkg`` around its estimated background,
none with ``fit-nobkglimits``; components are returned without it, the offsets in ``fitted_offset``; an
island's given offset — :mod:`science.extract.sourcefit` turns caesar's ``fit-bkg`` and
``fit-usebkgboxestimate`` into them — is held fixed, or starts the free one),
χ² in units of the mean island rms, with caesar's relative bounds: amplitude ±``ampl_limit``, centre
±``pos_limit`` px, σ ±``sigma_limit``, θ ±``theta_limit`` (or none, or σ/θ fixed:
:class:`science.extract.starts.FitLimits`); a fit that ends on a bound is retried up to ``nretries`` times
with the bounds it ended on widened by ``(1+n)·bound_step·0.5·|max − min|``, then once without them, as
caesar (:func:`science.extract.solving.retry`). caesar always pre-fits (amplitude and centre
held) and fits with bounds around the pre-fit values; here that pre-fit runs when asked for (``prefit``:
:func:`science.extract.solving.prefit`), otherwise one fit with bounds around the start values stands in.

Start values: one peak → amplitude = peak, centre = flux-weighted centroid, σ and θ from the pixel
moments; the moments of an island cut at the merge threshold underestimate σ, so they are corrected for
the truncation at the island's edge level and never start below the beam. Several peaks → amplitude =
peak value, centre = peak pixel, σ = beam, θ = beam θ (BPA + 90°).

Fit quality (caesar ``SourceFitQuality``): 0 BAD (no convergence), 1 LQ (converged, but a parameter at a
bound or no positive-definite covariance), 2 MQ (good errors, reduced χ² ≥ ``chi2_cut``), 3 HQ.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from science.errors import ParameterError
from science.extract.gaussian import NPAR, FitOutcome, amplitude_columns
from science.extract.islands import IslandPixels
from science.extract.solving import MAX_ITER, Start, prefit, retry, solve, take
from science.extract.starts import FitLimits, Seeds, beam_starts, island_seeds, moment_starts

__all__ = ["GaussianFitter"]

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: Islands fitted together in one vectorised batch.
CHUNK = 4096


class GaussianFitter:
    """Fit caesar-style Gaussian components to islands.

    Parameters
    ----------
    max_components
        Most components per island (caesar ``fit-maxcomponents``, 3).
    max_nbeams
        Islands larger than this many beams are not fitted (``fit-maxnbeams``, 20; read by
        :class:`science.extract.sourcefit.SourceFitting`).
    ampl_limit, sigma_limit, pos_limit, theta_limit
        Relative amplitude and σ bounds (``fit-ampllimit``, ``fit-sigmalimit``, 0.3), centre bound in pixels
        (``fit-poslimit``, 3), θ bound in degrees (``fit-thetalimit``, 90).
    unbounded
        Parameter groups fitted without bounds (``ampl``, ``pos``, ``sigma``, ``theta``: caesar
        ``fit-noampllimits``, ``fit-noposlimits``, ``fit-nosigmalimits``, ``fit-nothetalimits``).
    fix_sigma, fix_theta
        Hold σ / θ at their start values (``fit-fixsigma``, ``fit-fixtheta``).
    bound_step
        Step of the bound widening on each retry (``fit-parboundincreasestep``, 0.1).
    chi2_cut
        Reduced χ² below which a converged fit is HQ (``fit-chi2cut``, 5; None: no χ² cut, ``fit-nochi2cut``).
    nretries
        Retries with widened bounds (``fit-nretries``, 10; 0 = ``fit-noimproveconvergence``).
    fewer_retry
        Fit again with fewer components when a fit fails (below); False = ``fit-noretry``.
    peak_zthr
        Minimum significance of a seed peak (``fit-peakzthrmin``, 1).
    peak_kernel
        Side of the neighbourhood a seed peak must dominate (largest of ``fit-peakminkern``…``maxkern``, 7).
    fix_unresolved
        Refit single-component islands whose fitted area is consistent with the beam with the shape fixed
        to the beam (a point-source model, so ``S = Speak``); caesar leaves the shape free (False).
    resolved_nsigma
        A component is resolved when its area ratio to the beam exceeds 1 by this many standard errors.
    prefit
        Pre-fit as caesar does, with these parameter groups held at their start values (caesar's default
        ``{"ampl", "pos"}``; ``prefit-freeampl``, ``-freepos``, ``-fixsigma``, ``-fixtheta``); None: no pre-fit.
    max_iter
        Levenberg–Marquardt iterations per fit (``fit-maxniters``; caesar's counts Minuit calls, 10000).
    free_bkg, bkg_limits
        Fit a constant offset over the background map (``fit-freebkg``), bounded unless ``bkg_limits`` is
        False (``fit-nobkglimits``).
    fewer_zthr
        The seed threshold: a component is a detection only at it. Deblending peaks below it seed no
        component (caesar seeds every 3×3 peak above ``peak_zthr``, 1σ: noise bumps on island wings, which
        fits make into 3-4σ components), and a deblended fit whose faintest fitted peak is below this many
        times the island's mean rms is fitted again with one component fewer, the faintest seed dropped, down
        to one (caesar does this only for fits left on a bound).

    Raises
    ------
    ParameterError
        If a parameter is out of range.
    """

    def __init__(
        self,
        *,
        max_components: int = 3,
        max_nbeams: float = 20.0,
        ampl_limit: float = 0.3,
        sigma_limit: float = 0.3,
        pos_limit: float = 3.0,
        theta_limit: float = 90.0,
        unbounded: frozenset[str] = frozenset(),
        fix_sigma: bool = False,
        fix_theta: bool = False,
        bound_step: float = 0.1,
        chi2_cut: float | None = 5.0,
        nretries: int = 10,
        fewer_retry: bool = True,
        peak_zthr: float = 1.0,
        peak_kernels: tuple[int, ...] = (3, 5, 7),
        peak_multiplicity: int = 1,
        peak_shift_tol: int = 2,
        fix_unresolved: bool = True,
        resolved_nsigma: float = 2.5,
        fewer_zthr: float = 5.0,
        free_bkg: bool = False,
        bkg_limits: bool = True,
        prefit: frozenset[str] | None = None,
        max_iter: int = MAX_ITER,
    ) -> None:
        if max_components < 1 or max_nbeams <= 0 or nretries < 0:
            raise ParameterError("need max_components ≥ 1, max_nbeams > 0 and nretries ≥ 0")
        if not peak_kernels or any(k < 1 or k % 2 == 0 for k in peak_kernels):
            raise ParameterError(f"peak kernels must be positive odd sizes, got {peak_kernels!r}")
        if peak_multiplicity == 0 or peak_multiplicity < -1 or peak_shift_tol < 0:
            raise ParameterError("need peak_multiplicity −1 or ≥ 1 and peak_shift_tol ≥ 0")
        if min(ampl_limit, sigma_limit, pos_limit, theta_limit, bound_step, 1.0 if chi2_cut is None else chi2_cut) <= 0:
            raise ParameterError("fit limits and chi2_cut must be positive")
        for groups in (unbounded, prefit or frozenset()):
            if not groups <= {"ampl", "pos", "sigma", "theta"}:
                raise ParameterError(f"unknown parameter groups {sorted(groups)!r}: ampl, pos, sigma, theta")
        if max_iter < 1:
            raise ParameterError(f"need max_iter ≥ 1, got {max_iter}")
        self.max_components = int(max_components)
        self.max_nbeams = float(max_nbeams)
        self.limits = FitLimits(
            float(ampl_limit),
            float(pos_limit),
            float(sigma_limit),
            math.radians(theta_limit),
            frozenset(unbounded),
            bool(fix_sigma),
            bool(fix_theta),
            float(bound_step),
        )
        self.chi2_cut = None if chi2_cut is None else float(chi2_cut)
        self.nretries = int(nretries)
        self.fewer_retry = bool(fewer_retry)
        self.peak_zthr = float(peak_zthr)
        self.peak_kernels = tuple(int(k) for k in peak_kernels)
        self.peak_multiplicity = int(peak_multiplicity)
        self.peak_shift_tol = int(peak_shift_tol)
        self.fix_unresolved = bool(fix_unresolved)
        self.resolved_nsigma = float(resolved_nsigma)
        self.fewer_zthr = float(fewer_zthr)
        self.free_bkg, self.bkg_limits = bool(free_bkg), bool(bkg_limits)
        self.prefit = None if prefit is None else frozenset(prefit)
        self.max_iter = int(max_iter)
        #: Model offsets (Jy/beam over the background map) of the last fits, fitted (``free_bkg``) or given
        #: (``offsets``), by island index; empty when neither.
        self.fitted_offset: dict[int, float] = {}
        #: σ_maj/σ_min of the last free single-component fits (before any point-source refit), by island index.
        self.free_axis_ratio: dict[int, float] = {}

    def __repr__(self) -> str:
        return (
            f"GaussianFitter(max_components={self.max_components}, max_nbeams={self.max_nbeams}, "
            f"limits={self.limits!r}, chi2_cut={self.chi2_cut}, nretries={self.nretries})"
        )

    # ------------------------------------------------------------------ seeds and starts
    def peaks(self, island: IslandPixels) -> list[tuple[float, float, float]]:
        """Seed peaks ``(value, x, y)``, brightest first, at most ``max_components``."""
        return self._seeds([island]).of(0)

    def _seeds(self, islands: list[IslandPixels], max_components: int | None = None) -> Seeds:
        most = self.max_components if max_components is None else max_components
        return island_seeds(
            islands,
            kernels=self.peak_kernels,
            multiplicity=self.peak_multiplicity,
            shift_tol=self.peak_shift_tol,
            zthr=max(self.peak_zthr, self.fewer_zthr),
            max_components=most,
        )

    def start(self, island: IslandPixels, beam: tuple[float, float, float]) -> Start:
        """Start values and bounds for ``island``; ``beam`` is ``(σ_maj, σ_min, θ)`` in pixels/radians."""
        return self.starts([island], beam)[0]

    def starts(
        self,
        islands: list[IslandPixels],
        beam: tuple[float, float, float],
        max_components: int | None = None,
        given: Mapping[int, F64] | None = None,
    ) -> list[Start]:
        """Start values and bounds of every island (see :mod:`science.extract.starts`), with at most
        ``max_components`` components (default ``self.max_components``); ``given`` start values (island
        index → ``(6k,)``) replace those of their islands."""
        if not islands:
            return []
        seeds = self._seeds(islands, max_components)
        counts = seeds.count()
        single = moment_starts(islands, beam)
        p0s = [single[g] if counts[g] == 1 else beam_starts(seeds, g, beam) for g in range(len(islands))]
        for g, p0 in (given or {}).items():
            p0s[g] = np.asarray(p0, np.float64)
        lo, hi = (b.ravel() for b in self.limits.bounds(np.concatenate(p0s).reshape(-1, NPAR)))
        out, at = [], 0
        for p0 in p0s:
            out.append(Start(p0, lo[at : at + p0.size], hi[at : at + p0.size]))
            at += p0.size
        return out

    def _with_offset(self, starts: list[Start], islands: list[IslandPixels]) -> list[Start]:
        """``starts`` with the fitted offset appended (start 0, caesar's bounds) when ``free_bkg`` (the islands'
        values are already shifted by their given offsets, see :meth:`fit_islands`)."""
        if not self.free_bkg:
            return starts
        out = []
        for start, isl in zip(starts, islands, strict=True):
            rms = float(isl.rms.mean())
            lo, hi = -np.inf, np.inf
            if self.bkg_limits:
                lo, hi = min(float(isl.value.min()), -rms), min(float(isl.value.max()), rms)
            out.append(Start(np.append(start.p0, 0.0), np.append(start.lo, lo), np.append(start.hi, hi)))
        return out

    # ------------------------------------------------------------------ fitting
    def fit_islands(
        self,
        islands: list[IslandPixels],
        beam_sigma: tuple[float, float, float],
        given: Mapping[int, F64] | None = None,
        offsets: Sequence[float] | None = None,
    ) -> list[tuple[FitOutcome, int]]:
        """Fit every island (from ``given`` start values where given, see :meth:`starts`; a retry with fewer
        components starts from the island's own peaks); returns ``(outcome with G = 1, index into the
        input)`` per island, input order. ``offsets``: each island's model offset over its pixels (Jy/beam
        over the background map), fixed, or the start of the fitted one with ``free_bkg``."""
        shift = np.zeros(len(islands)) if offsets is None else np.asarray(offsets, float)
        if offsets is not None:  # a fixed offset c on the pixels = fitting the pixels minus c
            islands = [IslandPixels(i.x, i.y, i.value - c, i.rms, i.z) for i, c in zip(islands, shift, strict=True)]
        starts = self._with_offset(self.starts(islands, beam_sigma, given=given), islands)
        ncomp = np.array([s.p0.size // NPAR for s in starts])
        results: list[tuple[FitOutcome, int] | None] = [None] * len(islands)
        chunks = []
        for k in np.unique(ncomp):
            idx = np.flatnonzero(ncomp == k)
            order = idx[np.argsort([len(islands[i].x) for i in idx], kind="stable")]
            chunks.extend(np.array_split(order, max(1, math.ceil(order.size / CHUNK))))

        def fit_chunk(chunk: npt.NDArray[np.intp]) -> None:
            group = [islands[i] for i in chunk]
            sts = [starts[i] for i in chunk]
            out = self._solve(group, sts)
            outcomes = [take(out, j) for j in range(len(chunk))]
            ncomp = sts[0].p0.size // NPAR
            failed = np.flatnonzero(self._faint(out, group))
            if self.fewer_retry and ncomp > 1 and failed.size:
                fewer = self._fewer([group[j] for j in failed], ncomp - 1, beam_sigma)
                for f, better in zip(failed.tolist(), fewer, strict=True):
                    if better is not None:
                        outcomes[f] = better
            for j, i in enumerate(chunk):
                results[i] = (outcomes[j], int(i))

        for chunk in chunks:
            fit_chunk(chunk)
        done = [r for r in results if r is not None]
        self.free_axis_ratio = {
            i: float(max(o.params[0][3], o.params[0][4]) / max(min(o.params[0][3], o.params[0][4]), 1e-9))
            for o, i in done
            if o.params.shape[1] // NPAR == 1
        }
        if self.fix_unresolved:
            self._refit_unresolved(done, starts, islands, beam_sigma)
        if not self.free_bkg:
            self.fitted_offset = {i: float(shift[i]) for _, i in done} if offsets is not None else {}
            return done
        self.fitted_offset = {i: float(o.params[0, -1] + shift[i]) for o, i in done}
        return [(_without_offset(o), i) for o, i in done]

    def _solve(self, islands: list[IslandPixels], starts: list[Start], pre: bool = True) -> FitOutcome:
        """caesar's fit of a batch of equal component counts: the pre-fit (if on and ``pre``), the fit, its
        retries."""
        if pre and self.prefit is not None:
            starts = prefit(islands, starts, self.prefit, self.limits, self.max_iter)
        p0, lo, hi = (np.stack([getattr(s, k) for s in starts]) for k in ("p0", "lo", "hi"))
        out = solve(islands, p0, lo, hi, self.max_iter)
        return retry(out, starts, islands, self.nretries, self.limits.step, self.max_iter)

    def _faint(self, out: FitOutcome, islands: list[IslandPixels]) -> npt.NDArray[np.bool_]:
        """Fits whose faintest component's fitted peak is below ``fewer_zthr`` × the island's mean rms."""
        amps = out.params[:, amplitude_columns(out.params.shape[1])].min(axis=1)
        sigma = np.array([float(isl.rms.mean()) for isl in islands])
        faint: npt.NDArray[np.bool_] = amps < self.fewer_zthr * sigma
        return faint

    def _fewer(
        self, islands: list[IslandPixels], ncomp: int, beam: tuple[float, float, float]
    ) -> list[FitOutcome | None]:
        """Fit again with one component fewer (the faintest seed dropped), down to one: caesar's last resort
        for a fit on a bound, and ours for a component below ``fewer_zthr``; None where no fit ends clean
        (converged, off the bounds, every component at ``fewer_zthr`` or one component left)."""
        out = self._solve(islands, self._with_offset(self.starts(islands, beam, max_components=ncomp), islands))
        found: list[FitOutcome | None] = [None] * len(islands)
        still = []
        faint = self._faint(out, islands) & (ncomp > 1)
        for j in range(len(islands)):
            if bool(out.converged[j]) and not bool(out.at_bound[j]) and not faint[j]:
                found[j] = take(out, j)
            else:
                still.append(j)
        if still and ncomp > 1:
            for j, sub in zip(still, self._fewer([islands[j] for j in still], ncomp - 1, beam), strict=True):
                found[j] = sub
        return found

    def resolved(self, outcome: FitOutcome, beam_sigma: tuple[float, float, float]) -> bool:
        """The single component's area exceeds the beam's by ``resolved_nsigma`` standard errors."""
        p, cov = outcome.params[0], outcome.cov[0]
        ratio = p[3] * p[4] / (beam_sigma[0] * beam_sigma[1])
        if not bool(outcome.cov_ok[0]):
            return bool(ratio > 1.5)
        # Pixel noise is correlated over the beam: the effective number of independent pixels is the pixel
        # count over the noise correlation area 4π·σx·σy (Condon 1997), so the χ² errors are scaled up.
        corr = 4.0 * math.pi * beam_sigma[0] * beam_sigma[1]
        rel = math.sqrt(corr * (max(cov[3, 3], 0.0) / p[3] ** 2 + max(cov[4, 4], 0.0) / p[4] ** 2))
        return bool(ratio - 1.0 > self.resolved_nsigma * ratio * rel)

    def _refit_unresolved(
        self,
        done: list[tuple[FitOutcome, int]],
        starts: list[Start],
        islands: list[IslandPixels],
        beam_sigma: tuple[float, float, float],
    ) -> None:
        """Refit unresolved single components with σ and θ fixed to the beam, in place."""
        todo = [
            j
            for j, (out, _) in enumerate(done)
            if out.params.shape[1] // NPAR == 1 and not self.resolved(out, beam_sigma)
        ]
        fixed = np.array([0.0, 0.0, 0.0, beam_sigma[0], beam_sigma[1], beam_sigma[2]] + [0.0] * self.free_bkg)
        shape = np.array([False, False, False, True, True, True] + [False] * self.free_bkg)
        # islands fitted with fewer components than seeded take the bounds of a one-component start
        reduced = [done[j][1] for j in todo if starts[done[j][1]].p0.size // NPAR != 1]
        group = [islands[i] for i in reduced]
        for i, single in zip(reduced, self._with_offset(self.starts(group, beam_sigma, 1), group), strict=True):
            starts[i] = single

        def refit(chunk: npt.NDArray[np.intp]) -> None:
            idx = [done[j][1] for j in chunk]
            sts = []
            for j, i in zip(chunk, idx, strict=True):
                p0 = np.where(shape, fixed, done[j][0].params[0])
                sts.append(Start(p0, np.where(shape, fixed, starts[i].lo), np.where(shape, fixed, starts[i].hi)))
            group = [islands[i] for i in idx]
            out = self._solve(group, sts, pre=False)
            for k, j in enumerate(chunk):
                done[j] = (take(out, k), done[j][1])

        chunks = [c for c in np.array_split(np.asarray(todo, int), max(1, math.ceil(len(todo) / CHUNK))) if c.size]
        for chunk in chunks:
            refit(chunk)

    def quality(self, outcome: FitOutcome, ndata: int) -> int:
        """caesar fit quality flag of a one-island outcome."""
        if not bool(outcome.converged[0]) or not np.all(np.isfinite(outcome.params)):
            return 0
        if bool(outcome.at_bound[0]) or not bool(outcome.cov_ok[0]):
            return 1
        ndf = max(ndata - outcome.params.shape[1], 1)
        return 3 if self.chi2_cut is None or float(outcome.chi2[0]) / ndf < self.chi2_cut else 2


def _without_offset(out: FitOutcome) -> FitOutcome:
    """A one-island outcome's components only (its fitted offset, the last parameter, dropped)."""
    return FitOutcome(out.params[:, :-1], out.cov[:, :-1, :-1], out.chi2, out.converged, out.at_bound, out.cov_ok)
