"""Rendering of bodies and RFC 9457 problem details in the negotiated media type."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from planner.wire import codecs


def render(request: Request, data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    media_type = codecs.negotiate(request.headers.get("accept"))
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json", by_alias=True, exclude_none=True)
    return Response(codecs.encode(data, media_type), status_code=status_code, media_type=media_type, headers=headers)


def problem(request: Request, status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"urn:cirasa:problem:{code}", "title": title, "status": status, "detail": detail}
    body["instance"] = request.url.path
    body.update(extra)
    return render(request, body, status_code=status)
