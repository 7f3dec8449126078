"""PrefectPoolAdapter against the real Prefect server of the test stack (read-only API calls)."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cirasa import services
from planner.adapters.prefect_pool import PrefectPoolAdapter
from planner.engine.eligibility import judge
from planner.engine.evaluate import evaluate
from planner.engine.model import PlatformSnapshot, ResourceRequest
from planner.errors import PlatformUnavailableError

pytestmark = pytest.mark.prefect


async def test_pool_with_online_worker_offers_a_start_band(stack: services.ServiceConfig) -> None:
    adapter = PrefectPoolAdapter(
        name="local", work_pool="cirasa-local", api_url=stack.prefect_api_url, cores=2, memory_gib=4
    )
    snapshot = await adapter.snapshot(ResourceRequest())
    assert snapshot.available, snapshot.unavailable_reasons
    assert snapshot.facts["workers_online"] == 1
    assert snapshot.start is not None
    assert snapshot.start.source.startswith("queue-depth heuristic")
    assert (snapshot.total_cores, snapshot.total_memory_gib) == (2, 4)


async def test_missing_pool_and_pool_without_worker_say_why(stack: services.ServiceConfig) -> None:
    missing = PrefectPoolAdapter(name="x", work_pool="no-such-pool", api_url=stack.prefect_api_url)
    snapshot = await missing.snapshot(ResourceRequest())
    assert not snapshot.available
    assert snapshot.unavailable_reasons == ("work pool no-such-pool does not exist",)

    async with httpx.AsyncClient(base_url=stack.prefect_api_url) as client:
        created = await client.post("/work_pools/", json={"name": "cirasa-empty", "type": "process"})
        assert created.status_code in (201, 409)
    empty = PrefectPoolAdapter(name="e", work_pool="cirasa-empty", api_url=stack.prefect_api_url)
    snapshot = await empty.snapshot(ResourceRequest())
    assert not snapshot.available
    assert snapshot.unavailable_reasons == ("no worker online in work pool cirasa-empty",)


async def test_unreachable_prefect_raises_platform_unavailable() -> None:
    adapter = PrefectPoolAdapter(name="x", work_pool="p", api_url="http://127.0.0.1:9/api", timeout_s=1)
    with pytest.raises(PlatformUnavailableError, match=r"Prefect API at http://127\.0\.0\.1:9/api unreachable"):
        await adapter.snapshot(ResourceRequest())


async def _poll(adapter: PrefectPoolAdapter, want_available: bool, timeout_s: float) -> PlatformSnapshot:
    deadline = time.monotonic() + timeout_s
    while True:
        snapshot = await adapter.snapshot(ResourceRequest())
        if snapshot.available == want_available or time.monotonic() > deadline:
            return snapshot
        await asyncio.sleep(0.5)


async def test_stopped_worker_turns_the_offer_to_no_and_restarted_worker_back_to_yes_soon(
    stack: services.ServiceConfig,
) -> None:
    """Stop the real cirasa-local worker: once its heartbeat is stale (3 intervals of 5 s) the pool
    declines with "no worker online"; start it again with the argv `services.up` uses: YES, soon."""
    adapter = PrefectPoolAdapter(
        name="local", work_pool="cirasa-local", api_url=stack.prefect_api_url, cores=2, memory_gib=4
    )
    request = ResourceRequest()
    before = await _poll(adapter, True, 30)
    assert before.available, before.unavailable_reasons
    argv = [
        str(Path(sys.executable).parent / "prefect"),
        *("worker", "start", "--pool", "cirasa-local", "--type", "process", "--name", "cirasa-local-worker"),
    ]
    assert services.stop_process(stack, "worker-cirasa-local")
    try:
        stopped = await _poll(adapter, False, 45)
        assert not stopped.available, "the pool still looked ready 45 s after its only worker stopped"
        assert stopped.unavailable_reasons[0].startswith("no worker online in work pool cirasa-local")
        verdict = judge(request, stopped)
        assert not verdict.eligible
        assert verdict.reasons[0].message.startswith("Platform local cannot take work now: no worker online")
    finally:
        services.start_process(stack, "worker-cirasa-local", argv)
    restarted = await _poll(adapter, True, 60)
    assert restarted.available, restarted.unavailable_reasons
    now = datetime.now(UTC)
    offer = evaluate(request, [restarted], {}, now=now, ttl=timedelta(minutes=1)).offers[0]
    assert offer.start.earliest - now < timedelta(seconds=20), offer.start
    assert offer.start.source.startswith("queue-depth heuristic")
