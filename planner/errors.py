"""The planner's error tree. Every error carries a stable code, an HTTP status and a title.

PlannerError
├── RequestInvalidError        422  the request body is malformed or inconsistent
├── NotFoundError              404  no offer set or session with that id
├── InvalidTransitionError     409  the phase change is not allowed now
├── PlatformError
│   ├── PlatformUnavailableError 503  the platform could not be read (transient)
│   └── PlatformRejectedError    409  the platform refused the work
└── BrokerClientError          502  another broker answered with an error
"""

from __future__ import annotations

from typing import Any, ClassVar


class TransientError(Exception):
    """Mixin: trying again later may succeed."""


class PlannerError(Exception):
    """Root of every planner error."""

    code: ClassVar[str] = "planner-error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Planner error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class RequestInvalidError(PlannerError):
    code = "request-invalid"
    status = 422
    title = "Invalid request"


class NotFoundError(PlannerError):
    code = "not-found"
    status = 404
    title = "Not found"


class InvalidTransitionError(PlannerError):
    code = "invalid-transition"
    status = 409
    title = "Invalid phase transition"


class PlatformError(PlannerError):
    code = "platform-error"
    status = 502
    title = "Platform error"


class PlatformUnavailableError(PlatformError, TransientError):
    code = "platform-unavailable"
    status = 503
    title = "Platform unavailable"


class PlatformRejectedError(PlatformError):
    code = "platform-rejected"
    status = 409
    title = "Platform rejected the work"


class BrokerClientError(PlannerError):
    code = "broker-client-error"
    status = 502
    title = "Broker answered with an error"
