"""Evaluate all platforms for one request: verdicts for every platform, offers for the eligible ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from planner.engine.eligibility import judge
from planner.engine.model import Offer, PlatformSnapshot, Reason, ResourceRequest, Verdict
from planner.engine.scoring import ScoringWeights, make_offer


@dataclass(frozen=True)
class Evaluation:
    """Offers best first, and a verdict (with its "why not") for every platform asked."""

    offers: tuple[Offer, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def declined(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if not v.eligible)


def offer_order(offer: Offer) -> tuple[float, datetime, str]:
    """Sort key: best score first, then earliest start, then platform name (deterministic ties)."""
    return (-offer.score, offer.start.earliest, offer.platform)


def evaluate(
    request: ResourceRequest,
    snapshots: Sequence[PlatformSnapshot],
    failures: Mapping[str, str],
    *,
    now: datetime,
    ttl: timedelta,
    weights: ScoringWeights | None = None,
) -> Evaluation:
    """Judge each snapshot, offer on the eligible ones; ``failures`` are platforms that could not be read."""
    weights = weights or ScoringWeights()
    verdicts: list[Verdict] = []
    offers: list[Offer] = []
    for snapshot in sorted(snapshots, key=lambda s: s.name):
        verdict = judge(request, snapshot)
        verdicts.append(verdict)
        if verdict.eligible:
            offers.append(make_offer(request, snapshot, weights, now, ttl))
    for name in sorted(failures):
        verdicts.append(
            Verdict(
                platform=name,
                eligible=False,
                reasons=(
                    Reason(
                        kind="urn:platform-unreachable",
                        template="Platform ${platform} did not answer: ${detail}",
                        values={"platform": name, "detail": failures[name]},
                    ),
                ),
            )
        )
    return Evaluation(offers=tuple(sorted(offers, key=offer_order)), verdicts=tuple(verdicts))
