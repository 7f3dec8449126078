"""Federation: a second, real broker process (uvicorn) as a platform of a first broker; a broker that
hangs (a socket that accepts and never answers) is reported within its time-out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from cirasa.services import free_port, wait_healthy
from planner.adapters.registry import build_adapters
from planner.adapters.remote_broker import RemoteBrokerAdapter, build_remote_request, build_snapshot
from planner.api.app import create_app
from planner.client import BrokerClient
from planner.engine.model import ResourceRequest
from planner.errors import PlatformUnavailableError
from planner.planning import JobSpec, build_request
from planner.settings import BrokerSettings, PlatformConfig
from planner.wire.models import OfferSetResponse

REMOTE_APP = """
from planner.adapters.static import StaticAdapter
from planner.api.app import create_app
from planner.engine.model import PlatformKind, PlatformSnapshot
from planner.settings import BrokerSettings

def snapshot(name, cores, memory):
    return PlatformSnapshot(name=name, kind=PlatformKind.PREFECT_POOL, work_pool="pool-" + name, available=True,
                            total_cores=cores, free_cores=cores, total_memory_gib=memory, free_memory_gib=memory)

app = create_app(BrokerSettings(platforms=[], config_file=None),
                 adapters=[StaticAdapter(snapshot("far-big", 4, 8)), StaticAdapter(snapshot("far-small", 2, 4))])
"""


@pytest.fixture(scope="module")
def remote_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second broker: its own uvicorn process, SQLite file and two static platforms."""
    home = tmp_path_factory.mktemp("remote-broker")
    (home / "remote_app.py").write_text(REMOTE_APP)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRASA_BROKER_")}
    env.update(
        CIRASA_HOME=str(home),
        CIRASA_BROKER_DATABASE_URL=f"sqlite+aiosqlite:///{home / 'remote.sqlite3'}",
        PYTHONPATH=f"{home}{os.pathsep}{Path.cwd()}",
    )
    argv = [sys.executable, "-m", "uvicorn", "remote_app:app", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(argv, env=env, cwd=home, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(f"{url}/healthz", server, timeout_s=30)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"remote broker did not start: {exc}")
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def hung_url() -> Iterator[str]:
    """A "broker" that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


async def remote_phases(url: str, offer_set_url: str) -> list[str]:
    async with BrokerClient(url) as client:
        offer_set = await client.get_offer_set(offer_set_url)
    return [o.phase.value for o in offer_set.offers]


async def test_remote_offer_becomes_capacity_and_start_band_and_is_rejected(remote_url: str) -> None:
    adapter = RemoteBrokerAdapter(name="far", url=remote_url, work_pool="cirasa-far", timeout_s=10)
    request = ResourceRequest(cores_min=1, cores_max=4, memory_gib_min=1, memory_gib_max=8, inputs=("a.fits",))
    snapshot = await adapter.snapshot(request)
    assert snapshot.available, snapshot.unavailable_reasons
    assert (snapshot.free_cores, snapshot.free_memory_gib, snapshot.work_pool) == (4, 8, "cirasa-far")
    assert snapshot.start is not None
    assert snapshot.start.source == f"remote broker {remote_url}: declared (static platform)"
    assert snapshot.facts["remote_platform"] == "far-big"
    assert snapshot.facts["remote_offers"] == 2
    remote_set = str(snapshot.facts["remote_offer_set"])
    await adapter.settle()
    assert await remote_phases(remote_url, remote_set) == ["REJECTED", "REJECTED"]


async def test_remote_no_is_unavailable_with_the_remote_messages(remote_url: str) -> None:
    adapter = RemoteBrokerAdapter(name="far", url=remote_url, work_pool="cirasa-far", timeout_s=10)
    snapshot = await adapter.snapshot(ResourceRequest(cores_min=16, cores_max=16, inputs=("a.fits",)))
    assert not snapshot.available
    (reason,) = snapshot.unavailable_reasons
    assert reason.startswith(f"remote broker {remote_url} answered NO with no usable offer: ")
    assert "Minimum cores [16] exceeds the limit [4] of platform far-big" in reason


@pytest.fixture
async def front(tmp_path: Path, remote_url: str, hung_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The first broker, in-process, whose platforms come from configuration: the remote and the hung one."""
    settings = BrokerSettings(
        config_file=None,
        platform_timeout_s=5.0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'front.sqlite3'}",
        platforms=[
            PlatformConfig(name="far", kind="broker", url=remote_url, work_pool="cirasa-far", timeout_s=10),
            PlatformConfig(name="hung", kind="broker", url=hung_url, work_pool="cirasa-hung", timeout_s=0.5),
        ],
    )
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        headers = {"Accept": "application/json"}
        async with httpx.AsyncClient(transport=transport, base_url="http://front", headers=headers) as client:
            yield client


async def test_front_broker_offers_on_remote_and_reports_the_hung_one_in_time(front: httpx.AsyncClient) -> None:
    body = build_request(JobSpec(name="t", inputs=("a.fits",), cores_min=1, cores_max=2))
    started = time.monotonic()
    response = await front.post("/requests", json=body.model_dump(mode="json", by_alias=True, exclude_none=True))
    elapsed = time.monotonic() - started
    offer_set = OfferSetResponse.model_validate(response.json())
    assert elapsed < 2.0, f"answer took {elapsed:.2f} s although the hung platform's time-out is 0.5 s"
    messages: dict[str | None, str] = {}
    for item in offer_set.meta.messages if offer_set.meta else []:
        platform = item.values.get("platform")
        messages[platform] = f"{messages[platform]}; {item.message}" if platform in messages else item.message
    assert messages["hung"].startswith("Platform hung did not answer: remote broker http://127.0.0.1:")
    assert messages["hung"].endswith("did not answer within 0.5 s")
    assert offer_set.result == "YES", messages
    (offer,) = offer_set.offers
    assert offer.placement is not None
    assert (offer.placement.platform, offer.placement.work_pool) == ("far", "cirasa-far")
    assert offer.placement.start_source.startswith("remote broker http://127.0.0.1:")


async def test_unreachable_remote_broker_raises_platform_unavailable() -> None:
    adapter = RemoteBrokerAdapter(name="gone", url=f"http://127.0.0.1:{free_port()}", work_pool="p", timeout_s=2)
    with pytest.raises(PlatformUnavailableError, match=r"broker at http://127\.0\.0\.1:\d+ unreachable: ConnectError"):
        await adapter.snapshot(ResourceRequest())


def test_request_goes_on_with_the_same_needs() -> None:
    start = datetime(2026, 11, 25, 12, tzinfo=UTC)
    request = ResourceRequest(
        cores_min=2,
        cores_max=4,
        memory_gib_min=3,
        memory_gib_max=6,
        duration=timedelta(minutes=90),
        start_after=start,
        start_before=start + timedelta(hours=1),
        inputs=("/data/a.fits",),
        cost_max=2.5,
    )
    body = build_remote_request(request).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert body["compute"]["cores"] == {"min": 2, "max": 4}
    assert body["compute"]["memory"] == {"min": 3, "max": 6}
    assert body["schedule"]["requested"] == {
        "start": "2026-11-25T12:00:00+00:00/2026-11-25T13:00:00+00:00",
        "duration": "PT5400S",
    }
    assert body["executable"]["inputs"] == ["/data/a.fits"]
    assert body["costs"][0]["max"] == 2.5


def test_offer_of_a_broker_without_our_extension_uses_its_schedule() -> None:
    """A conforming broker that is not ours: no placement extension, only the schedule and compute."""
    offer_set = OfferSetResponse.model_validate(
        {
            "result": "YES",
            "offers": [
                {
                    "phase": "OFFERED",
                    "meta": {"uuid": "u1"},
                    "compute": {"cores": {"min": 2, "max": 2}, "memory": {"min": 4, "max": 4}},
                    "schedule": {"available": {"start": "2026-11-25T12:05:00Z/PT10M", "duration": "PT1H"}},
                }
            ],
        }
    )
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    snapshot = build_snapshot("cb", "pool-cb", "http://cb", offer_set, now)
    assert (snapshot.available, snapshot.free_cores, snapshot.free_memory_gib) == (True, 2, 4)
    assert snapshot.start is not None
    assert snapshot.start.earliest == datetime(2026, 11, 25, 12, 5, tzinfo=UTC)
    assert snapshot.start.latest == datetime(2026, 11, 25, 12, 15, tzinfo=UTC)
    assert snapshot.start.source == "remote broker http://cb: offered schedule"


def test_registry_builds_broker_platforms_from_configuration() -> None:
    settings = BrokerSettings(
        config_file=None,
        platforms=[PlatformConfig(name="far", kind="broker", url="http://b:1/", work_pool="wp", token="s3cret")],
    )
    (adapter,) = build_adapters(settings)
    assert isinstance(adapter, RemoteBrokerAdapter)
    assert (adapter.url, adapter.work_pool) == ("http://b:1", "wp")
    assert "s3cret" not in repr(adapter)
    with pytest.raises(ValueError, match="kind broker needs url"):
        PlatformConfig(name="x", kind="broker", work_pool="wp")
