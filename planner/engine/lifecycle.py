"""Session phases: which changes a client may ask for, and how the platform moves a session on.

Pure. After acceptance a session only moves forward along
ACCEPTED → WAITING → PREPARING → AVAILABLE → RUNNING → RELEASING → COMPLETED | FAILED | CANCELLED;
a failure (or a cancel) while releasing ends FAILED. Prefect flow-run states map to phases as in
the protocol notes (§14); states with no phase of their own leave the phase unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from planner.wire.models import SimpleExecutionSessionPhase as Phase

TERMINAL = frozenset({Phase.REJECTED, Phase.EXPIRED, Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED})
ENDS = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED})
# The order of the execution phases; the three ends share the last rank.
RANK = {
    Phase.ACCEPTED: 0,
    Phase.WAITING: 1,
    Phase.PREPARING: 2,
    Phase.AVAILABLE: 3,
    Phase.RUNNING: 4,
    Phase.RELEASING: 5,
    Phase.COMPLETED: 6,
    Phase.FAILED: 6,
    Phase.CANCELLED: 6,
}
ACTIVE = frozenset(p for p, rank in RANK.items() if rank < 6)
# Sessions that hold capacity: live offers and everything accepted and not yet ended.
HOLDING = frozenset({Phase.OFFERED}) | ACTIVE

CLIENT_TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.ACCEPTED: frozenset({Phase.OFFERED}),
    Phase.REJECTED: frozenset({Phase.OFFERED}),
    Phase.CANCELLED: frozenset(
        {Phase.INITIAL, Phase.OFFERED, Phase.ACCEPTED, Phase.WAITING, Phase.PREPARING, Phase.AVAILABLE, Phase.RUNNING}
    ),
}


def allowed_updates(phase: Phase) -> list[str]:
    """Phases a client may ask for from ``phase`` (the session's ``options``)."""
    return [target.value for target, sources in CLIENT_TRANSITIONS.items() if phase in sources]


def is_expired(phase: Phase, expires: datetime | None, now: datetime) -> bool:
    """An offer is expired once ``now`` reaches ``expires`` (only OFFERED sessions expire)."""
    return phase == Phase.OFFERED and expires is not None and expires <= now


def advance(current: Phase, observed: Phase | None) -> Phase | None:
    """The phase after the platform reports ``observed``, or ``None`` when nothing changes.

    Never backwards, never out of an end; a failure or cancel while RELEASING ends FAILED.

    >>> advance(Phase.RUNNING, Phase.PREPARING) is None
    True
    >>> advance(Phase.RELEASING, Phase.CANCELLED)
    <SimpleExecutionSessionPhase.FAILED: 'FAILED'>
    """
    if observed is None or current not in ACTIVE or observed not in RANK:
        return None
    if current == Phase.RELEASING and observed in (Phase.FAILED, Phase.CANCELLED):
        return Phase.FAILED
    if RANK[observed] <= RANK[current]:
        return None
    return observed


@dataclass(frozen=True)
class RunStatus:
    """What a platform says about a run: the phase it implies (``None``: no change) and why."""

    phase: Phase | None
    state: str
    detail: str = ""
    level: str = "INFO"


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a platform needs to start an accepted session."""

    session_id: str
    platform: str
    work_pool: str
    executable: dict[str, object]
    cores: int
    memory_gib: int
    start: datetime
    duration: timedelta
    data: list[dict[str, object]] = field(default_factory=list)
    volumes: list[dict[str, object]] = field(default_factory=list)


# Prefect flow-run state (type, name) → phase. SCHEDULED is WAITING (ACCEPTED until the worker sees it).
PREFECT_TYPES: dict[str, Phase | None] = {
    "SCHEDULED": Phase.WAITING,
    "PENDING": Phase.PREPARING,
    "RUNNING": Phase.RUNNING,
    "COMPLETED": Phase.COMPLETED,
    "FAILED": Phase.FAILED,
    "CRASHED": Phase.FAILED,
    "CANCELLED": Phase.CANCELLED,
    "CANCELLING": None,
    "PAUSED": None,
}
UNCHANGED_NAMES = frozenset({"AwaitingRetry", "Retrying"})


def phase_from_prefect(state_type: str, state_name: str | None = None) -> RunStatus:
    """The session phase a Prefect flow-run state stands for (§14 of the protocol notes).

    >>> phase_from_prefect("PENDING", "Pending").phase
    <SimpleExecutionSessionPhase.PREPARING: 'PREPARING'>
    >>> phase_from_prefect("RUNNING", "Retrying").phase is None
    True
    """
    state = f"{state_type}/{state_name or state_type.title()}"
    if state_name in UNCHANGED_NAMES:
        return RunStatus(None, state, f"flow run is {state_name}", "WARN")
    if state_type == "PAUSED":
        return RunStatus(None, state, "flow run is paused", "INFO")
    if state_type not in PREFECT_TYPES:
        return RunStatus(None, state, f"unknown flow-run state {state}", "WARN")
    phase = PREFECT_TYPES[state_type]
    level = "ERROR" if phase == Phase.FAILED else "INFO"
    return RunStatus(phase, state, f"flow run is {state}", level)


def steps_to(current: Phase, target: Phase) -> list[Phase]:
    """The phases to pass through from ``current`` to ``target`` (forward only), ending at ``target``.

    Lets a poller that sees a run jump (e.g. SCHEDULED straight to COMPLETED) record the phases a
    client expects in order; ends are reached directly.
    """
    if advance(current, target) is None:
        return []
    if target in ENDS:
        return [target] if current != Phase.RELEASING or target == Phase.COMPLETED else [Phase.FAILED]
    return [
        p
        for p in (Phase.WAITING, Phase.PREPARING, Phase.AVAILABLE, Phase.RUNNING)
        if RANK[current] < RANK[p] <= RANK[target]
    ]
