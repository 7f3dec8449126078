"""Prometheus text exposition at ``/metrics``: HTTP requests, offer sets by result, sessions by phase."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

router = APIRouter()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestCounter:
    """Pure ASGI middleware counting requests by method, route template and status (cheap per call)."""

    def __init__(self, app: ASGIApp, counts: Counter[tuple[str, str, int]]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def remember(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, remember)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.counts[(str(scope["method"]), str(path), status)] += 1


def install_request_counter(app: FastAPI) -> None:
    """Count every request by method, route template and status."""
    counts: Counter[tuple[str, str, int]] = Counter()
    app.state.request_counts = counts
    app.add_middleware(RequestCounter, counts=counts)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    offer_sets, sessions = await request.app.state.service.counts()
    lines = [
        "# HELP cirasa_broker_http_requests_total HTTP requests by method, route and status.",
        "# TYPE cirasa_broker_http_requests_total counter",
    ]
    for (method, path, status), n in sorted(request.app.state.request_counts.items()):
        lines.append(
            f'cirasa_broker_http_requests_total{{method="{method}",route="{_label(path)}",status="{status}"}} {n}'
        )
    lines += [
        "# HELP cirasa_broker_offer_sets Stored offer sets by result.",
        "# TYPE cirasa_broker_offer_sets gauge",
    ]
    for result in ("YES", "NO"):
        lines.append(f'cirasa_broker_offer_sets{{result="{result}"}} {offer_sets.get(result, 0)}')
    lines += ["# HELP cirasa_broker_sessions Stored sessions by phase.", "# TYPE cirasa_broker_sessions gauge"]
    for phase, n in sorted(sessions.items()):
        lines.append(f'cirasa_broker_sessions{{phase="{_label(phase)}"}} {n}')
    return PlainTextResponse("\n".join(lines) + "\n", media_type=CONTENT_TYPE)
