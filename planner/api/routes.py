"""Routes of both path sets (v1.0.5 and v1.0.7). Handlers parse, call the service, render."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from planner.api.openapi import body_of, returns
from planner.api.responses import render
from planner.auth import Caller
from planner.errors import RequestInvalidError
from planner.service import BrokerService
from planner.wire import codecs
from planner.wire.models import (
    AbstractUpdate,
    EnumValueUpdate,
    ExecutionRequest,
    OfferSetResponse,
    ScheduledExecutionSession,
)

router = APIRouter()


def service_of(request: Request) -> BrokerService:
    service: BrokerService = request.app.state.service
    return service


def caller_of(request: Request) -> Caller:
    """Who calls (anonymous when auth is off or no token is sent; a bad token is a 401)."""
    return service_of(request).auth.identify(request.headers.get("authorization"))


def base_url_of(request: Request) -> str:
    """The broker's external base URL; honours X-Forwarded-Proto/Host from a proxy."""
    proto = request.headers.get("x-forwarded-proto")
    host = request.headers.get("x-forwarded-host")
    if proto or host:
        url = request.base_url.replace(scheme=proto or request.base_url.scheme, netloc=host or request.base_url.netloc)
        return str(url).rstrip("/")
    return str(request.base_url).rstrip("/")


async def body_of_request(request: Request) -> Any:
    return codecs.decode(await request.body(), request.headers.get("content-type"))


async def read_execution_request(request: Request) -> ExecutionRequest:
    data = await body_of_request(request)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RequestInvalidError(f"the body must be a mapping (an ExecutionRequest), not {type(data).__name__}")
    return ExecutionRequest.model_validate(data)


async def _request_offers(request: Request) -> Response:
    body = await read_execution_request(request)
    offer_set = await service_of(request).request_offers(body, base_url_of(request), caller_of(request))
    url = offer_set.meta.url if offer_set.meta else None
    return render(request, offer_set, status_code=303, headers={"Location": url or ""})


OFFERS = {"openapi_extra": body_of("ExecutionRequest"), "responses": returns(303, OfferSetResponse)}


@router.post("/requests", operation_id="ExecutionRequest", status_code=303, **OFFERS)  # type: ignore[arg-type]
async def post_requests(request: Request) -> Response:
    """Ask for offers (v1.0.7). Answers 303 to the offer set, with the offer set as body."""
    return await _request_offers(request)


@router.post("/offersets", operation_id="OfferSetPost", status_code=303, **OFFERS)  # type: ignore[arg-type]
async def post_offersets(request: Request) -> Response:
    """Ask for offers (v1.0.5 path)."""
    return await _request_offers(request)


@router.get("/offersets/{uuid}", operation_id="OfferSetSelect", responses=returns(200, OfferSetResponse))
async def get_offerset(uuid: str, request: Request) -> Response:
    """Read an offer set (its offers with their current phases)."""
    return render(request, await service_of(request).get_offer_set(uuid, caller_of(request)))


async def _direct(request: Request) -> Response:
    body = await read_execution_request(request)
    session, accepted = await service_of(request).direct(body, base_url_of(request), caller_of(request))
    if not accepted:
        return render(request, session, status_code=400)
    url = session.meta.url if session.meta else None
    return render(request, session, status_code=303, headers={"Location": url or ""})


DIRECT = {
    "openapi_extra": body_of("ExecutionRequest"),
    "responses": returns(303, ScheduledExecutionSession) | returns(400, ScheduledExecutionSession),
}


@router.post("/direct", operation_id="DirectExecution", status_code=303, **DIRECT)  # type: ignore[arg-type]
async def post_direct(request: Request) -> Response:
    """Direct execution (v1.0.7): offers and accept in one step; 303 to the session, or 400 saying why."""
    return await _direct(request)


@router.post("/sessions", operation_id="DirectExecutionPost", status_code=303, **DIRECT)  # type: ignore[arg-type]
async def post_sessions(request: Request) -> Response:
    """Direct execution (v1.0.5 path)."""
    return await _direct(request)


@router.get("/sessions/{uuid}", operation_id="SessionSelect", responses=returns(200, ScheduledExecutionSession))
async def get_session(uuid: str, request: Request) -> Response:
    """Read a session."""
    return render(request, await service_of(request).get_session(uuid, caller_of(request)))


def parse_update(data: Any) -> AbstractUpdate:
    if isinstance(data, dict) and data.get("kind") == "uri:enum-value-update":
        return EnumValueUpdate.model_validate(data)
    if not isinstance(data, dict):
        raise RequestInvalidError("the body must be a mapping (an update with kind and path)")
    return AbstractUpdate.model_validate(data)


@router.post(
    "/sessions/{uuid}",
    operation_id="SessionUpdate",
    openapi_extra=body_of("EnumValueUpdate"),
    responses=returns(200, ScheduledExecutionSession),
)
async def post_session(uuid: str, request: Request) -> Response:
    """Update a session: ``{kind: uri:enum-value-update, path: phase, value: ACCEPTED|REJECTED|CANCELLED}``."""
    service = service_of(request)
    caller = caller_of(request)
    service.auth.require(caller)
    update = parse_update(await body_of_request(request))
    return render(request, await service.update_session(uuid, update, caller))


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
