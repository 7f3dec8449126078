"""The pure lifecycle table and capacity ledger: exact answers and hypothesis invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.engine.ledger import Holding, remaining, split_by_room
from planner.engine.lifecycle import ACTIVE, ENDS, RANK, advance, allowed_updates, phase_from_prefect, steps_to
from planner.engine.model import PlatformKind, PlatformSnapshot, ResourceRequest
from planner.wire.models import SimpleExecutionSessionPhase as Phase

PHASES = list(Phase)


@given(start=st.sampled_from(sorted(ACTIVE)), observed=st.lists(st.sampled_from(PHASES) | st.none(), max_size=12))
def test_phases_never_go_backwards_and_ends_are_final(start: Phase, observed: list[Phase | None]) -> None:
    current = start
    for phase in observed:
        nxt = advance(current, phase)
        if nxt is not None:
            assert current in ACTIVE
            assert RANK[nxt] > RANK[current] or nxt in ENDS
            for step in steps_to(current, nxt):
                assert RANK[step] > RANK[current]
            current = nxt
    if current in ENDS:
        assert all(advance(current, p) is None for p in PHASES)


def test_failure_or_cancel_while_releasing_ends_failed() -> None:
    assert advance(Phase.RELEASING, Phase.FAILED) == Phase.FAILED
    assert advance(Phase.RELEASING, Phase.CANCELLED) == Phase.FAILED
    assert advance(Phase.RELEASING, Phase.COMPLETED) == Phase.COMPLETED
    assert steps_to(Phase.ACCEPTED, Phase.RUNNING) == [Phase.WAITING, Phase.PREPARING, Phase.AVAILABLE, Phase.RUNNING]


def test_client_options_per_phase() -> None:
    assert allowed_updates(Phase.OFFERED) == ["ACCEPTED", "REJECTED", "CANCELLED"]
    assert allowed_updates(Phase.RUNNING) == ["CANCELLED"]
    assert allowed_updates(Phase.RELEASING) == []
    assert allowed_updates(Phase.COMPLETED) == []


@pytest.mark.parametrize(
    ("state", "name", "phase"),
    [
        ("SCHEDULED", "Scheduled", Phase.WAITING),
        ("SCHEDULED", "Late", Phase.WAITING),
        ("SCHEDULED", "AwaitingRetry", None),
        ("PENDING", "Pending", Phase.PREPARING),
        ("RUNNING", "Running", Phase.RUNNING),
        ("RUNNING", "Retrying", None),
        ("PAUSED", "Suspended", None),
        ("COMPLETED", "Completed", Phase.COMPLETED),
        ("FAILED", "Failed", Phase.FAILED),
        ("CRASHED", "Crashed", Phase.FAILED),
        ("CANCELLING", "Cancelling", None),
        ("CANCELLED", "Cancelled", Phase.CANCELLED),
    ],
)
def test_prefect_states_map_to_phases(state: str, name: str, phase: Phase | None) -> None:
    assert phase_from_prefect(state, name).phase == phase


def snapshot(name: str = "p", cores: int = 8, memory: float = 16) -> PlatformSnapshot:
    return PlatformSnapshot(
        name=name,
        kind=PlatformKind.PREFECT_POOL,
        work_pool=f"pool-{name}",
        available=True,
        total_cores=cores,
        free_cores=cores,
        total_memory_gib=memory,
        free_memory_gib=memory,
    )


def test_holdings_are_taken_off_the_free_capacity() -> None:
    left = remaining(snapshot(), Holding("p", 6, 10.0))
    assert (left.free_cores, left.free_memory_gib) == (2, 6.0)
    fits, full = split_by_room(ResourceRequest(cores_min=3, cores_max=3), [snapshot()], [Holding("p", 6, 1.0)])
    assert fits == []
    assert full[0].reasons[0].message == (
        "Minimum cores [3] exceeds what platform p has free [2] while other offers and sessions hold the rest"
    )
    fits, full = split_by_room(ResourceRequest(cores_min=2, cores_max=3), [snapshot()], [Holding("p", 6, 1.0)])
    assert [s.free_cores for s in fits] == [2]
    assert full == []
