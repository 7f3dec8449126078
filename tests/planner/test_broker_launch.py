"""The broker runs an accepted caesar job itself on the real Prefect stack, and cancels it.

Accepting creates the flow run of ``extract-image/cirasa-local`` (idempotency key = session uuid);
the session phases follow the flow run until it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from cirasa import services
from planner.adapters.prefect_pool import PrefectPoolAdapter
from planner.api.app import create_app
from planner.planning import JobSpec, build_request
from planner.settings import BrokerSettings

pytestmark = pytest.mark.prefect
ENDS = {"COMPLETED", "FAILED", "CANCELLED"}
ORDER = ["ACCEPTED", "WAITING", "PREPARING", "AVAILABLE", "RUNNING", "RELEASING"]


@pytest.fixture
async def broker(stack: services.ServiceConfig, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    pool = PrefectPoolAdapter(
        name="local",
        work_pool="cirasa-local",
        api_url=stack.prefect_api_url,
        cores=2,
        memory_gib=4,
        launch_runs=True,
    )
    settings = BrokerSettings(platforms=[], poll_interval_s=0.5, database_url=f"sqlite:///{tmp_path / 'b.db'}")
    async with LifespanManager(create_app(settings, adapters=[pool])) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://b", headers={"Accept": "application/json"}
        ) as client:
            yield client


async def accept_job(broker: httpx.AsyncClient, image: Path, out: Path) -> dict[str, object]:
    request = build_request(JobSpec(name="t", inputs=(str(image),), cores_min=1, cores_max=1, memory_gib_max=1))
    body = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["executable"]["options"] = {"seedthr": 5.0, "output_dir": str(out)}
    offer_set = (await broker.post("/requests", json=body)).json()
    assert offer_set["result"] == "YES", offer_set["meta"]["messages"]
    uuid = offer_set["offers"][0]["meta"]["uuid"]
    update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
    accepted = (await broker.post(f"/sessions/{uuid}", json=update)).json()
    assert accepted["phase"] in {"ACCEPTED", "WAITING"}
    return accepted


async def follow(broker: httpx.AsyncClient, uuid: str, timeout_s: float = 180) -> list[str]:
    phases: list[str] = []
    async with asyncio.timeout(timeout_s):
        while not phases or phases[-1] not in ENDS:
            phase = (await broker.get(f"/sessions/{uuid}")).json()["phase"]
            if not phases or phases[-1] != phase:
                phases.append(phase)
            await asyncio.sleep(0.3)
    return phases


def simulated_image(path: Path) -> Path:
    from science.io.fits import write_image
    from science.simulate import simulate_image

    image, _ = simulate_image(shape=(128, 128), n_sources=5, seed=3)
    return write_image(path, image)


async def test_accepted_caesar_job_runs_as_a_flow_run(
    broker: httpx.AsyncClient, stack: services.ServiceConfig, tmp_path: Path
) -> None:
    session = await accept_job(broker, simulated_image(tmp_path / "sky.fits"), tmp_path / "out")
    uuid = str(session["meta"]["uuid"])  # type: ignore[index]
    phases = await follow(broker, uuid)
    assert phases[-1] == "COMPLETED", (phases, (await broker.get(f"/sessions/{uuid}")).json()["meta"]["messages"])
    assert [ORDER.index(p) for p in phases[:-1]] == sorted(ORDER.index(p) for p in phases[:-1])
    assert (tmp_path / "out" / "summary.json").exists()
    async with httpx.AsyncClient(base_url=stack.prefect_api_url) as prefect:
        runs = (
            await prefect.post("/flow_runs/filter", json={"flow_runs": {"tags": {"all_": [f"session:{uuid}"]}}})
        ).json()
    assert len(runs) == 1
    assert runs[0]["idempotency_key"] == uuid


async def test_cancelled_session_cancels_its_flow_run(
    broker: httpx.AsyncClient, stack: services.ServiceConfig, tmp_path: Path
) -> None:
    session = await accept_job(broker, simulated_image(tmp_path / "sky.fits"), tmp_path / "out")
    uuid = str(session["meta"]["uuid"])  # type: ignore[index]
    update = {"kind": "uri:enum-value-update", "path": "phase", "value": "CANCELLED"}
    assert (await broker.post(f"/sessions/{uuid}", json=update)).json()["phase"] == "CANCELLED"
    async with httpx.AsyncClient(base_url=stack.prefect_api_url) as prefect:
        runs = (
            await prefect.post("/flow_runs/filter", json={"flow_runs": {"tags": {"all_": [f"session:{uuid}"]}}})
        ).json()
    assert [r["state"]["type"] for r in runs] in (["CANCELLING"], ["CANCELLED"])
