"""The one seam between the broker and a real platform."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from planner.engine.lifecycle import LaunchSpec, RunStatus
from planner.engine.model import PlatformSnapshot, ResourceRequest


@runtime_checkable
class PlatformAdapter(Protocol):
    """Reads one real platform. Adapters do I/O; everything they return is plain data.

    ``snapshot`` must not change the platform's state (read-only calls only). A platform that
    cannot be reached raises :class:`planner.errors.PlatformUnavailableError`.
    """

    name: str

    async def snapshot(self, request: ResourceRequest) -> PlatformSnapshot:
        """Describe capacity, limits and an expected start band for ``request``."""
        ...


@runtime_checkable
class LaunchingAdapter(PlatformAdapter, Protocol):
    """A platform that also runs accepted sessions (optional, beside :class:`PlatformAdapter`).

    ``start`` returns the platform's id of the run and is idempotent per ``spec.session_id`` (a
    retried start must not create a second run). ``poll`` reads the run's state as a
    :class:`RunStatus`; ``cancel`` asks the platform to stop it. Failures to reach the platform
    raise :class:`planner.errors.PlatformUnavailableError`; a refused start raises
    :class:`planner.errors.PlatformRejectedError`.
    """

    def accepts(self, spec: LaunchSpec) -> bool:
        """Whether this platform runs ``spec`` itself (else the session stays ACCEPTED for the client)."""
        ...

    async def start(self, spec: LaunchSpec) -> str:
        """Create the run of an accepted session; return its id."""
        ...

    async def poll(self, run_id: str) -> RunStatus:
        """The current state of run ``run_id``."""
        ...

    async def cancel(self, run_id: str) -> None:
        """Ask the platform to stop run ``run_id``."""
        ...
