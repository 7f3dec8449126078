"""The 2023 working-draft adapter: ``POST /request`` and ``GET|POST /offers/{ident}``.

A WD request wraps an ExecutionRequest in ``request:``; the answer is
``response: {result, offers: [{ident, status, expires, request}]}``. An offer is one of our
sessions (``ident`` is its UUID); ``POST /offers/{ident}`` with ``offer: {status: ACCEPTED}``
accepts it. Post-acceptance phases read as ACCEPTED (the WD had no job phases on offers).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from planner.api.responses import render
from planner.api.routes import base_url_of, body_of_request, caller_of, service_of
from planner.errors import RequestInvalidError
from planner.wire.models import EnumValueUpdate, ExecutionRequest, ScheduledExecutionSession

router = APIRouter(tags=["2023 working draft"])
WD_STATUSES = {"OFFERED", "ACCEPTED", "REJECTED", "EXPIRED"}


def wd_offer(session: ScheduledExecutionSession, request: Any) -> dict[str, Any]:
    status = session.phase.value if session.phase.value in WD_STATUSES | {"CANCELLED"} else "ACCEPTED"
    offer: dict[str, Any] = {"ident": session.meta.uuid if session.meta else None, "status": status}
    if session.expires is not None:
        offer["expires"] = session.expires.isoformat()
    offer["request"] = request
    return offer


async def _wrapped(request: Request, key: str) -> dict[str, Any]:
    data = await body_of_request(request)
    inner = data.get(key) if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        raise RequestInvalidError(f"the body must be a mapping with a '{key}:' mapping inside")
    return inner


@router.post("/request", operation_id="WorkingDraftRequest")
async def post_request(request: Request) -> Response:
    """Ask for offers, 2023 style; answers 200 with the offers inline."""
    inner = await _wrapped(request, "request")
    offer_set = await service_of(request).request_offers(
        ExecutionRequest.model_validate(inner), base_url_of(request), caller_of(request)
    )
    response = {
        "result": offer_set.result,
        "offers": [wd_offer(s, inner) for s in offer_set.offers],
        "reasons": [{"path": m.kind, "text": m.message} for m in (offer_set.meta.messages if offer_set.meta else [])],
    }
    return render(request, {"response": response})


@router.get("/offers/{ident}", operation_id="WorkingDraftOfferGet")
async def get_offer(ident: str, request: Request) -> Response:
    session = await service_of(request).get_session(ident, caller_of(request))
    return render(request, {"offer": wd_offer(session, None)})


@router.post("/offers/{ident}", operation_id="WorkingDraftOfferUpdate")
async def post_offer(ident: str, request: Request) -> Response:
    """Accept or reject an offer: ``offer: {status: ACCEPTED|REJECTED}`` (an ``ident`` inside must match)."""
    inner = await _wrapped(request, "offer")
    if "ident" in inner and str(inner["ident"]) != ident:
        raise RequestInvalidError(f"the offer's ident {inner['ident']!r} differs from the one in the URL ({ident})")
    status = str(inner.get("status", ""))
    if status not in ("ACCEPTED", "REJECTED"):
        raise RequestInvalidError(f"offer status must be ACCEPTED or REJECTED, not {status!r}")
    service = service_of(request)
    caller = caller_of(request)
    service.auth.require(caller)
    session = await service.update_session(ident, EnumValueUpdate(path="phase", value=status), caller)
    return render(request, {"offer": wd_offer(session, None)})
