"""PrefectPoolAdapter against the real Prefect server of the test stack (read-only API calls)."""

from __future__ import annotations

import httpx
import pytest

from cirasa import services
from planner.adapters.prefect_pool import PrefectPoolAdapter
from planner.engine.model import ResourceRequest
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
