"""Rich rendering of offers tables and summaries for the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from planner.engine.choose import Choice, Row
from planner.wire.models import OfferSetResponse


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = (value - now).total_seconds()
    return "now" if seconds < 1 else f"+{seconds:.0f} s"


def offers_table(rows: tuple[Row, ...], title: str = "Offers") -> Table:
    now = datetime.now(UTC)
    table = Table(title=title, show_lines=False)
    for column in ("platform", "work pool", "status", "cores", "GiB", "start", "start source", "score", "why"):
        table.add_column(column, overflow="fold")
    styles = {"chosen": "bold green", "offered": "", "declined": "red", "expired": "yellow"}
    for row in rows:
        band = f"{_when(row.start_earliest, now)} .. {_when(row.start_latest, now)}" if row.start_earliest else "-"
        table.add_row(
            row.platform,
            row.work_pool or "-",
            row.status,
            "-" if row.cores is None else str(row.cores),
            "-" if row.memory_gib is None else str(row.memory_gib),
            band,
            row.start_source or "-",
            "-" if row.score is None else f"{row.score:.3f}",
            row.why,
            style=styles.get(row.status, ""),
        )
    return table


def plan_document(
    broker_url: str, offer_set: OfferSetResponse, choice: Choice | None, rows: tuple[Row, ...], reasons: list[str]
) -> dict[str, Any]:
    """Everything `cirasa plan --json` reports: the offer set, the choice (or why none), every row."""
    meta = offer_set.meta
    chosen = next((r for r in rows if r.status == "chosen"), None)
    return {
        "broker": broker_url,
        "offer_set": {
            "uuid": meta.uuid if meta else None,
            "url": meta.url if meta else None,
            "created": meta.created.isoformat() if meta and meta.created else None,
            "result": offer_set.result,
            "offers": len(offer_set.offers),
        },
        "chosen": None
        if choice is None or chosen is None
        else {
            "platform": chosen.platform,
            "work_pool": choice.work_pool,
            "offer": chosen.offer,
            "offer_url": choice.offer.meta.url if choice.offer.meta else None,
            "score": chosen.score,
            "why": chosen.why,
        },
        "reasons": reasons,
        "rows": [row.as_dict() for row in rows],
    }
