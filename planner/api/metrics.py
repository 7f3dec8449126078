"""Prometheus text exposition at ``/metrics``: HTTP requests, offer sets by result, sessions by phase."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

router = APIRouter()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def install_request_counter(app: FastAPI) -> None:
    """Count every request by method, route template and status."""
    counts: Counter[tuple[str, str, int]] = Counter()
    app.state.request_counts = counts

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        counts[(request.method, path, response.status_code)] += 1
        return response


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
