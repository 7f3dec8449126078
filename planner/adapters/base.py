"""The one seam between the broker and a real platform."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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
