"""BrokerClient: talks to any ExecutionBroker (ours or a conforming one) over HTTP with httpx."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from planner.errors import BrokerClientError, InvalidTransitionError, NotFoundError, PlatformUnavailableError
from planner.wire.models import EnumValueUpdate, ExecutionRequest, OfferSetResponse, ScheduledExecutionSession

JSON = "application/json"


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith(JSON) and bool(response.content)


def _uuid(session_or_url: str) -> str:
    """Accept a session UUID or its URL (the UUID is the last path segment)."""
    return session_or_url.rstrip("/").rsplit("/", 1)[-1]


class BrokerClient:
    """Async client. ``token`` is sent as a bearer token when given; it is never logged."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Accept": JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout_s, follow_redirects=True, transport=transport
        )

    async def __aenter__(self) -> BrokerClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, body: Any = None, *, follow: bool = True) -> Any:
        try:
            response = await self._http.request(method, path, json=body, follow_redirects=follow)
            if response.status_code == 303:
                # Brokers that answer 303 with the offer set as body save us the GET; others don't.
                if _is_json(response):
                    return response.json()
                response = await self._http.get(response.headers["location"])
        except httpx.HTTPError as exc:
            raise PlatformUnavailableError(
                f"broker at {self.base_url} unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 400:
            self._raise(response)
        return response.json()

    def _raise(self, response: httpx.Response) -> None:
        try:
            problem = response.json()
            detail = str(problem.get("detail") or problem)
        except ValueError:
            problem, detail = {}, response.text[:500] or response.reason_phrase
        where = f"{response.request.method} {response.request.url.path}"
        if response.status_code == 404:
            raise NotFoundError(f"{where}: {detail}")
        if response.status_code == 409:
            raise InvalidTransitionError(f"{where}: {detail}", options=problem.get("options", []))
        raise BrokerClientError(f"{where} answered {response.status_code}: {detail}", status=response.status_code)

    async def request_offers(self, request: ExecutionRequest) -> OfferSetResponse:
        """POST the request and return the offer set (the 303's body, or its Location when it has none)."""
        body = request.model_dump(mode="json", by_alias=True, exclude_none=True)
        data = await self._send("POST", "/requests", body, follow=False)
        return OfferSetResponse.model_validate(data)

    async def get_offer_set(self, uuid: str) -> OfferSetResponse:
        return OfferSetResponse.model_validate(await self._send("GET", f"/offersets/{_uuid(uuid)}"))

    async def get_session(self, uuid: str) -> ScheduledExecutionSession:
        return ScheduledExecutionSession.model_validate(await self._send("GET", f"/sessions/{_uuid(uuid)}"))

    async def set_phase(self, uuid: str, phase: str) -> ScheduledExecutionSession:
        update = EnumValueUpdate(path="phase", value=phase).model_dump(mode="json")
        return ScheduledExecutionSession.model_validate(await self._send("POST", f"/sessions/{_uuid(uuid)}", update))
