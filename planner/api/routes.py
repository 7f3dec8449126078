"""Routes of both path sets (v1.0.5 and v1.0.7). Handlers parse, call the service, render."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from planner.api.responses import render
from planner.service import BrokerService
from planner.wire import codecs
from planner.wire.models import AbstractUpdate, EnumValueUpdate, ExecutionRequest

router = APIRouter()


def _service(request: Request) -> BrokerService:
    service: BrokerService = request.app.state.service
    return service


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _body(request: Request) -> object:
    return codecs.decode(await request.body(), request.headers.get("content-type"))


async def _request_offers(request: Request) -> Response:
    body = ExecutionRequest.model_validate(await _body(request) or {})
    offer_set = await _service(request).request_offers(body, _base_url(request))
    assert offer_set.meta is not None
    return render(request, offer_set, status_code=303, headers={"Location": offer_set.meta.url or ""})


@router.post("/requests", operation_id="ExecutionRequest", status_code=303)
async def post_requests(request: Request) -> Response:
    """Ask for offers (v1.0.7). Answers 303 to the offer set, with the offer set as body."""
    return await _request_offers(request)


@router.post("/offersets", operation_id="OfferSetPost", status_code=303)
async def post_offersets(request: Request) -> Response:
    """Ask for offers (v1.0.5 path)."""
    return await _request_offers(request)


@router.get("/offersets/{uuid}", operation_id="OfferSetSelect")
async def get_offerset(uuid: str, request: Request) -> Response:
    return render(request, await _service(request).get_offer_set(uuid))


@router.get("/sessions/{uuid}", operation_id="SessionSelect")
async def get_session(uuid: str, request: Request) -> Response:
    return render(request, await _service(request).get_session(uuid))


@router.post("/sessions/{uuid}", operation_id="SessionUpdate")
async def post_session(uuid: str, request: Request) -> Response:
    data = await _body(request)
    update: AbstractUpdate = (
        EnumValueUpdate.model_validate(data)
        if isinstance(data, dict) and data.get("kind") == "uri:enum-value-update"
        else AbstractUpdate.model_validate(data)
    )
    return render(request, await _service(request).update_session(uuid, update))


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
