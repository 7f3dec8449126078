"""The planner inside Prefect: ask the broker, choose a work pool, run that pool's deployment.

The choice itself is the engine's (:func:`planner.engine.choose.choose` via
:func:`planner.planning.plan`); this module only adds Prefect: the task, the offers artifact, and
running the chosen deployment through the Prefect API.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.states import Cancelling

from planner.client import BrokerClient
from planner.engine.choose import Row
from planner.engine.sizing import dask_cluster_parameters
from planner.errors import InvalidTransitionError, NotFoundError
from planner.planning import JobSpec, PlanDecision, plan
from planner.wire.kinds import RUN_CONNECTOR
from planner.wire.models import ScheduledExecutionSession

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})


@dataclass(frozen=True)
class RunOutcome:
    flow_run_id: str
    state: str
    message: str


def cluster_for(decision: PlanDecision) -> dict[str, Any]:
    """Size the Dask cluster from the accepted offer's cores and memory (as the broker does)."""
    compute = decision.session.compute
    cores = compute.cores.min if compute and compute.cores and compute.cores.min else 1
    memory = compute.memory.min if compute and compute.memory and compute.memory.min else 1
    return dask_cluster_parameters(cores, memory)


def offers_rows(rows: tuple[Row, ...]) -> list[dict[str, Any]]:
    """The offers table as flat rows for the table artifact (score terms as one text cell)."""
    return [{**r.as_dict(), "score_terms": ", ".join(f"{k} {v:+.3f}" for k, v in r.score_terms.items())} for r in rows]


async def plan_with_broker(
    broker_url: str, job: JobSpec, *, max_attempts: int = 3, avoid_pools: frozenset[str] = frozenset()
) -> PlanDecision:
    async with BrokerClient(broker_url) as client:
        return await plan(client, job, max_attempts=max_attempts, avoid_pools=avoid_pools)


async def replan_with_broker(
    broker_url: str, job: JobSpec, failed: PlanDecision, max_attempts: int = 3
) -> PlanDecision:
    """The run could not start on ``failed``'s pool: cancel that session and plan again without that pool."""
    async with BrokerClient(broker_url) as client:
        uuid = failed.session.meta.uuid if failed.session.meta else None
        if uuid is not None:
            with contextlib.suppress(InvalidTransitionError, NotFoundError):  # already final or gone
                await client.set_phase(uuid, "CANCELLED")
        return await plan(client, job, max_attempts=max_attempts, avoid_pools=frozenset({failed.work_pool}))


def publish_offers(job: JobSpec, decision: PlanDecision) -> None:
    """The offers table (scores, terms, reasons) as the ``offers`` table artifact of the running flow."""
    retried = f" after {len(decision.attempts)} failed attempt(s): {' | '.join(decision.attempts)}"
    create_table_artifact(
        table=offers_rows(decision.choice.rows),
        key="offers",
        description=f"Offers for {job.name}: chose work pool {decision.work_pool}"
        + (retried if decision.attempts else ""),
    )


@task(name="plan-work-pool")
def plan_work_pool(
    broker_url: str, job: JobSpec, max_attempts: int = 3, avoid_pools: tuple[str, ...] = ()
) -> PlanDecision:
    """Ask for offers, choose and accept one (re-planning up to ``max_attempts`` times when the offer
    expired or was refused); publish the offers table as an artifact."""
    decision = asyncio.run(
        plan_with_broker(broker_url, job, max_attempts=max_attempts, avoid_pools=frozenset(avoid_pools))
    )
    publish_offers(job, decision)
    return decision


@task(name="replan-work-pool")
def replan_work_pool(broker_url: str, job: JobSpec, failed: PlanDecision, max_attempts: int = 3) -> PlanDecision:
    """The run could not start on the chosen pool: cancel that session, choose again elsewhere."""
    decision = asyncio.run(replan_with_broker(broker_url, job, failed, max_attempts))
    publish_offers(job, decision)
    return decision


async def submit_run(deployment: str, parameters: dict[str, Any]) -> str:
    """Create a flow run of ``deployment`` (the pool's worker picks it up); return its id."""
    flow_run = await run_deployment(name=deployment, parameters=parameters, timeout=0)  # type: ignore[misc]
    return str(flow_run.id)


async def wait_for_run(flow_run_id: str, timeout_s: float = 240.0, poll_s: float = 0.25) -> RunOutcome:
    """Poll a flow run until it reaches a final state or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while True:
            state = (await client.read_flow_run(UUID(flow_run_id))).state
            name = state.type.value if state else "UNKNOWN"
            if name in FINAL_STATES:
                return RunOutcome(flow_run_id, name, (state.message or "") if state else "")
            if time.monotonic() > deadline:
                return RunOutcome(flow_run_id, name, f"no final state after {timeout_s:.0f} s")
            await asyncio.sleep(poll_s)


async def cancel_run(flow_run_id: str) -> None:
    async with get_client() as client:
        await client.set_flow_run_state(UUID(flow_run_id), Cancelling(), force=True)


FINAL_PHASES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "REJECTED", "EXPIRED"})


@dataclass(frozen=True)
class SessionOutcome:
    """How an accepted session ended, the broker's messages, and the flow run that did the work."""

    session_id: str
    phase: str
    messages: tuple[str, ...]
    flow_run_id: str | None
    phases_seen: tuple[str, ...]


def flow_run_of(session: ScheduledExecutionSession) -> str | None:
    """The Prefect flow run the broker created for ``session`` (its run connector), if any."""
    for connector in session.connectors:
        if connector.get("kind") == RUN_CONNECTOR and connector.get("location"):
            return str(connector["location"]).rstrip("/").rsplit("/", 1)[-1]
    return None


async def wait_for_session(
    broker_url: str, session_id: str, timeout_s: float = 300.0, poll_s: float = 1.0
) -> SessionOutcome:
    """Follow an accepted session (the broker runs it) until a final phase or ``timeout_s``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    async with BrokerClient(broker_url) as client:
        while True:
            session = await client.get_session(session_id)
            phase = session.phase.value
            if not seen or seen[-1] != phase:
                seen.append(phase)
            if phase in FINAL_PHASES or time.monotonic() > deadline:
                messages = tuple(m.message for m in (session.meta.messages if session.meta else []))
                if phase not in FINAL_PHASES:
                    messages += (f"no final phase after {timeout_s:.0f} s",)
                return SessionOutcome(session_id, phase, messages, flow_run_of(session), tuple(seen))
            await asyncio.sleep(poll_s)


async def cancel_session(broker_url: str, session_id: str) -> None:
    """Ask the broker to cancel an accepted session (it cancels the flow run)."""
    async with BrokerClient(broker_url) as client:
        with contextlib.suppress(InvalidTransitionError, NotFoundError):
            await client.set_phase(session_id, "CANCELLED")


def run_planned(broker_url: str, job: JobSpec, what: str) -> tuple[PlanDecision, SessionOutcome]:
    """Plan ``job`` on the broker's offers (:func:`plan_work_pool`: the offers artifact) and follow the session the
    broker runs until it ends, for at most the job's duration. A caller that is cancelled (the worker terminates
    its run) or interrupted cancels the session, so the work stops too. RuntimeError naming ``what`` (e.g.
    "extraction") and the broker's reasons unless the session COMPLETED."""
    decision = plan_work_pool(broker_url, job)
    session_id = str(decision.session.meta.uuid if decision.session.meta else "")
    get_run_logger().info("planner chose work pool %s; the broker runs %s", decision.work_pool, job.flow)
    try:
        outcome = asyncio.run(wait_for_session(broker_url, session_id, timeout_s=job.duration_minutes * 60))
    except BaseException:
        with contextlib.suppress(Exception):  # (the broker may be what failed: the first error is the one to see)
            asyncio.run(cancel_session(broker_url, session_id))
        raise
    if outcome.phase != "COMPLETED":
        reasons = "; ".join(outcome.messages) or "no message"
        raise RuntimeError(f"{what} on {decision.work_pool} ended {outcome.phase}: {reasons}")
    return decision, outcome
