"""Client-side choice: pick one offer out of an offer set, and explain every alternative.

Used by the planner task in a flow and by ``cirasa plan``; pure (``now`` is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from planner.errors import PlannerError
from planner.wire.models import OfferSetResponse, ScheduledExecutionSession, SimpleExecutionSessionPhase


class NoOfferError(PlannerError):
    code = "no-offer"
    status = 409
    title = "No usable offer"


@dataclass(frozen=True)
class Row:
    """One line of the offers table: an offer, or a platform that declined."""

    platform: str
    work_pool: str
    status: str  # "chosen", "offered", "avoided", "expired" or "declined"
    cores: int | None
    memory_gib: int | None
    start_earliest: datetime | None
    start_latest: datetime | None
    start_source: str
    score: float | None
    why: str
    score_terms: dict[str, float] = field(default_factory=dict)
    offer: str | None = None  # the offer's uuid
    expires: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (datetimes as ISO 8601), for artifacts and ``--json``."""
        return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in vars(self).items()}


@dataclass(frozen=True)
class Choice:
    offer: ScheduledExecutionSession
    work_pool: str
    rows: tuple[Row, ...]


def _rank_key(offer: ScheduledExecutionSession) -> tuple[float, datetime, str]:
    placement = offer.placement
    if placement is None:  # another broker's offer without our extension: rank last, still usable
        return (float("inf"), datetime.max, (offer.meta.uuid if offer.meta else None) or "")
    return (-placement.score, placement.start_earliest.replace(tzinfo=None), placement.platform)


def _usable(offer: ScheduledExecutionSession, now: datetime, avoid_pools: frozenset[str] = frozenset()) -> bool:
    if offer.phase != SimpleExecutionSessionPhase.OFFERED or offer.placement is None:
        return False
    if offer.placement.work_pool in avoid_pools:
        return False
    return offer.expires is None or offer.expires > now


def _terms(offer: ScheduledExecutionSession) -> str:
    if offer.placement is None:
        return ""
    return ", ".join(f"{k} {v:.3f}" for k, v in offer.placement.score_terms.items())


def _behind(offer: ScheduledExecutionSession, chosen: ScheduledExecutionSession) -> str:
    """Why ``offer`` lost to ``chosen``: the score gap and the terms where it fell behind."""
    mine = offer.placement.score_terms if offer.placement else {}
    best = chosen.placement.score_terms if chosen.placement else {}
    gap = (chosen.placement.score if chosen.placement else 0.0) - (offer.placement.score if offer.placement else 0.0)
    behind = sorted((mine.get(k, 0.0) - v, k) for k, v in best.items() if mine.get(k, 0.0) < v)
    if not behind:
        return f"same score as the chosen offer ({_terms(offer)}); tie broken by earliest start, then name"
    terms = ", ".join(f"{name} {delta:+.3f}" for delta, name in behind)
    return f"score {gap:.3f} below the chosen offer: {terms}"


def _unusable(offer: ScheduledExecutionSession, avoid_pools: frozenset[str]) -> str:
    placement = offer.placement
    if placement is not None and placement.work_pool in avoid_pools:
        return f"work pool {placement.work_pool} is avoided (a run could not start there)"
    return f"offer is {offer.phase.value} or past its expiry"


def choose(offer_set: OfferSetResponse, now: datetime, *, avoid_pools: frozenset[str] = frozenset()) -> Choice:
    """Choose the best usable offer; raise :class:`NoOfferError` with every reason when there is none.

    Offers on ``avoid_pools`` are listed (status "avoided") but never chosen.
    """
    ranked = sorted(offer_set.offers, key=_rank_key)
    usable = [o for o in ranked if _usable(o, now, avoid_pools)]
    declined = offer_set.meta.messages if offer_set.meta else []
    if not usable:
        reasons = [m.message for m in declined] or ["the broker made no offer"]
        reasons += [f"offer {o.meta.uuid if o.meta else '?'}: {_unusable(o, avoid_pools)}" for o in ranked]
        raise NoOfferError("no usable offer: " + "; ".join(reasons), reasons=reasons)
    chosen = usable[0]
    rows: list[Row] = []
    for offer in ranked:
        placement = offer.placement
        if placement is None:
            continue
        if offer is chosen:
            status, why = "chosen", f"best score ({_terms(offer)})"
        elif _usable(offer, now, avoid_pools):
            status, why = "offered", _behind(offer, chosen)
        elif placement.work_pool in avoid_pools:
            status, why = "avoided", _unusable(offer, avoid_pools)
        else:
            status, why = "expired", _unusable(offer, avoid_pools)
        rows.append(
            Row(
                platform=placement.platform,
                work_pool=placement.work_pool,
                status=status,
                cores=offer.compute.cores.min if offer.compute and offer.compute.cores else None,
                memory_gib=offer.compute.memory.min if offer.compute and offer.compute.memory else None,
                start_earliest=placement.start_earliest,
                start_latest=placement.start_latest,
                start_source=placement.start_source,
                score=placement.score,
                why=why,
                score_terms=dict(placement.score_terms),
                offer=offer.meta.uuid if offer.meta else None,
                expires=offer.expires,
            )
        )
    rows.extend(declined_rows(offer_set))
    assert chosen.placement is not None  # _usable guarantees it
    return Choice(offer=chosen, work_pool=chosen.placement.work_pool, rows=tuple(rows))


def declined_rows(offer_set: OfferSetResponse) -> list[Row]:
    """One row per platform that declined (or the request itself), with all of its reasons."""
    by_platform: dict[str, list[str]] = {}
    for message in offer_set.meta.messages if offer_set.meta else []:
        platform = message.values.get("platform", "")
        by_platform.setdefault(platform, []).append(message.message)
    return [
        Row(
            platform=platform or "(request)",
            work_pool=message_pool(offer_set, platform),
            status="declined",
            cores=None,
            memory_gib=None,
            start_earliest=None,
            start_latest=None,
            start_source="",
            score=None,
            why="; ".join(texts),
        )
        for platform, texts in sorted(by_platform.items())
    ]


def message_pool(offer_set: OfferSetResponse, platform: str) -> str:
    """The work pool a declining platform would have used, when the broker said so."""
    for message in offer_set.meta.messages if offer_set.meta else []:
        if message.values.get("platform") == platform and "work_pool" in message.values:
            return message.values["work_pool"]
    return ""
