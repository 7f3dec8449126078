"""Concurrency: one accept wins, and concurrent requests never offer more than a platform has."""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.adapters.static import StaticAdapter
from planner.engine.lifecycle import HOLDING
from planner.engine.model import PlatformKind, PlatformSnapshot
from planner.planning import JobSpec, build_request
from planner.service import BrokerService
from planner.storage.database import default_url, make_engine, upgrade
from planner.storage.repository import SqlRepository
from planner.wire.models import EnumValueUpdate
from tests.planner.conformance import TOKENS, request

TOTAL_CORES = 16
TOTAL_MEMORY_GIB = 24


async def test_50_concurrent_accepts_of_one_offer_over_http(main_url: str) -> None:
    headers = {"Accept": "application/json", "Authorization": f"Bearer {TOKENS['alice']}"}
    async with httpx.AsyncClient(base_url=main_url, headers=headers, timeout=30) as client:
        offer_set = (await client.post("/requests", json=request(cores=(1, 1)))).json()
        target = offer_set["offers"][0]["meta"]["uuid"]
        update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
        answers = await asyncio.gather(*(client.post(f"/sessions/{target}", json=update) for _ in range(50)))
        assert sorted(a.status_code for a in answers) == [200] + [409] * 49
        assert [a.json()["phase"] for a in answers if a.status_code == 200] == ["ACCEPTED"]
        for offer in offer_set["offers"]:  # release the capacity for the other tests
            await client.post(f"/sessions/{offer['meta']['uuid']}", json=update | {"value": "CANCELLED"})


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = default_url(tmp_path_factory.mktemp("concurrency"))
    upgrade(url)
    return url


def full_platform() -> StaticAdapter:
    """A fresh platform name per example: holdings are per platform, so examples do not interfere."""
    name = f"p-{uuidlib.uuid4().hex[:8]}"
    return StaticAdapter(
        PlatformSnapshot(
            name=name,
            kind=PlatformKind.PREFECT_POOL,
            work_pool=f"pool-{name}",
            available=True,
            total_cores=TOTAL_CORES,
            free_cores=TOTAL_CORES,
            total_memory_gib=TOTAL_MEMORY_GIB,
            free_memory_gib=TOTAL_MEMORY_GIB,
        )
    )


async def _flood(url: str, sizes: list[tuple[int, int, int]], rejects: list[bool]) -> None:
    engine = make_engine(url)
    try:
        platform = full_platform()
        service = BrokerService([platform], SqlRepository(engine), ttl=timedelta(minutes=5))
        jobs = [
            build_request(JobSpec(name="j", inputs=("a.fits",), cores_min=c, cores_max=c + extra, memory_gib_min=m))
            for c, extra, m in sizes
        ]
        offer_sets = await asyncio.gather(*(service.request_offers(job, "http://b") for job in jobs))
        offered = [o for s in offer_sets for o in s.offers]
        held = {h[0]: h for h in await service.repository.holdings(HOLDING, service.clock())}
        cores = sum(o.compute.cores.min for o in offered if o.compute and o.compute.cores and o.compute.cores.min)
        assert cores <= TOTAL_CORES
        if platform.name in held:
            assert held[platform.name][1] == cores <= TOTAL_CORES
            assert held[platform.name][2] <= TOTAL_MEMORY_GIB
        # a NO only when the minimum did not fit what was left
        assert all(s.result == "YES" or (s.meta and s.meta.messages) for s in offer_sets)
        # releasing some and asking again still never over-commits
        chosen = [o.meta.uuid for o, a in zip(offered, rejects, strict=False) if a and o.meta and o.meta.uuid]
        await asyncio.gather(*(service.update_session(u, EnumValueUpdate(value="REJECTED")) for u in chosen))
        await asyncio.gather(*(service.request_offers(job, "http://b") for job in jobs[:20]))
        after = {h[0]: h for h in await service.repository.holdings(HOLDING, service.clock())}
        assert after.get(platform.name, (platform.name, 0, 0.0))[1] <= TOTAL_CORES
    finally:
        await engine.dispose()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.tuples(st.integers(1, 6), st.integers(0, 4), st.integers(1, 8)), min_size=100, max_size=100),
    rejects=st.lists(st.booleans(), min_size=0, max_size=100),
)
def test_100_concurrent_requests_never_over_commit(
    database: str, sizes: list[tuple[int, int, int]], rejects: list[bool]
) -> None:
    asyncio.run(_flood(database, sizes, rejects))
