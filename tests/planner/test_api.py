"""The broker's HTTP API in-process (ASGITransport), with real StaticAdapter platforms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager

from planner.adapters.static import StaticAdapter
from planner.api.app import create_app
from planner.client import BrokerClient
from planner.engine.model import PlatformKind, PlatformSnapshot
from planner.errors import InvalidTransitionError
from planner.planning import JobSpec, build_request, plan
from planner.settings import BrokerSettings


def platform(name: str, cores: int, *, available: bool = True) -> StaticAdapter:
    return StaticAdapter(
        PlatformSnapshot(
            name=name,
            kind=PlatformKind.PREFECT_POOL,
            work_pool=f"pool-{name}",
            available=available,
            total_cores=cores,
            free_cores=cores,
            total_memory_gib=8,
            free_memory_gib=8,
            unavailable_reasons=() if available else ("no worker online in work pool pool-" + name,),
        )
    )


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        BrokerSettings(platforms=[], platform_timeout_s=0.5, database_url=f"sqlite:///{tmp_path / 'broker.db'}"),
        adapters=[platform("small", 2), platform("big", 8), platform("down", 8, available=False)],
    )
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker") as client:
            yield client


REQUEST = build_request(JobSpec(name="t", inputs=("a.fits",), cores_min=1, cores_max=4)).model_dump(
    mode="json", by_alias=True, exclude_none=True
)


async def test_request_redirects_to_offer_set_with_uuid_location(http: httpx.AsyncClient) -> None:
    response = await http.post("/requests", json=REQUEST, headers={"Accept": "application/json"})
    assert response.status_code == 303
    location = response.headers["location"]
    body = response.json()
    assert location == f"http://broker/offersets/{body['meta']['uuid']}"
    assert body["result"] == "YES"
    assert [o["x-cirasa-placement"]["platform"] for o in body["offers"]] == ["big", "small"]
    assert body["offers"][0]["compute"]["cores"] == {"min": 4, "max": 4}
    assert body["offers"][0]["meta"]["options"] == [
        {"kind": "uri:enum-value-option", "path": "phase", "values": ["ACCEPTED", "REJECTED", "CANCELLED"]}
    ]
    down = [m for m in body["meta"]["messages"] if m["values"].get("platform") == "down"]
    assert down[0]["message"] == "Platform down cannot take work now: no worker online in work pool pool-down"


async def test_yaml_is_the_default_and_yes_is_quoted(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/offersets", content=yaml.safe_dump(REQUEST), headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 303
    assert response.headers["content-type"].startswith("application/yaml")
    assert "result: 'YES'" in response.text
    again = await http.get(response.headers["location"])
    assert yaml.safe_load(again.text)["meta"]["uuid"] == response.headers["location"].rsplit("/", 1)[1]


async def test_unmeetable_request_is_a_no_not_an_error(http: httpx.AsyncClient) -> None:
    body = build_request(JobSpec(name="t", inputs=("a.fits",), cores_min=64, cores_max=64)).model_dump(
        mode="json", exclude_none=True
    )
    response = await http.post("/requests", json=body, headers={"Accept": "application/json"})
    assert response.status_code == 303
    offer_set = response.json()
    assert offer_set["result"] == "NO"
    assert offer_set["offers"] == []
    texts = sorted(m["message"] for m in offer_set["meta"]["messages"])
    assert any(t.startswith("Minimum cores [64] exceeds the limit [8] of platform big") for t in texts)
    assert any(t.startswith("Minimum cores [64] exceeds the limit [2] of platform small") for t in texts)


async def test_malformed_body_is_400_and_bad_field_is_422(http: httpx.AsyncClient) -> None:
    broken = await http.post(
        "/requests", content=b"{not json", headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["type"] == "urn:cirasa:problem:body-unreadable"
    bad = await http.post(
        "/requests", json={"compute": {"cores": {"min": "many"}}}, headers={"Accept": "application/json"}
    )
    assert bad.status_code == 422
    assert "compute.cores.min" in bad.json()["detail"]


async def test_accept_rejects_siblings_and_second_accept_is_409(http: httpx.AsyncClient) -> None:
    offer_set = (await http.post("/requests", json=REQUEST, headers={"Accept": "application/json"})).json()
    first, second = (o["meta"]["uuid"] for o in offer_set["offers"])
    update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
    accepted = await http.post(f"/sessions/{first}", json=update, headers={"Accept": "application/json"})
    assert accepted.status_code == 200
    assert accepted.json()["phase"] == "ACCEPTED"
    sibling = (await http.get(f"/sessions/{second}", headers={"Accept": "application/json"})).json()
    assert sibling["phase"] == "REJECTED"
    again = await http.post(f"/sessions/{second}", json=update, headers={"Accept": "application/json"})
    assert again.status_code == 409
    assert again.json()["options"] == []
    assert "is REJECTED; it cannot become ACCEPTED" in again.json()["detail"]


async def test_unknown_ids_are_404(http: httpx.AsyncClient) -> None:
    assert (await http.get("/offersets/nope")).status_code == 404
    assert (await http.get("/sessions/nope")).status_code == 404


async def test_plan_chooses_accepts_and_names_the_deployment(http: httpx.AsyncClient) -> None:
    transport = http._transport  # the same in-process app
    async with BrokerClient("http://broker", transport=transport) as client:
        decision = await plan(client, JobSpec(name="t", inputs=("a.fits",), cores_max=4))
        assert decision.work_pool == "pool-big"
        assert decision.deployment("extract-image") == "extract-image/pool-big"
        assert decision.session.phase.value == "ACCEPTED"
        statuses = {row.platform: row.status for row in decision.choice.rows}
        assert statuses == {"big": "chosen", "small": "offered", "down": "declined"}
        why = {row.platform: row.why for row in decision.choice.rows}
        # fit = half cores share + half memory share: 2 of 4 cores gives 0.75 against 1.0
        assert why["small"] == "score 0.250 below the chosen offer: fit -0.250"
        with pytest.raises(InvalidTransitionError, match="cannot become ACCEPTED"):
            await client.set_phase(decision.session.meta.uuid or "", "ACCEPTED")  # type: ignore[union-attr]


async def test_expired_offer_reads_expired_and_cannot_be_accepted(tmp_path: Path) -> None:
    app = create_app(
        BrokerSettings(platforms=[], offer_ttl_s=0.3, database_url=f"sqlite:///{tmp_path / 'b.db'}"),
        adapters=[platform("small", 2)],
    )
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://b") as http:
            offer_set = (await http.post("/requests", json=REQUEST, headers={"Accept": "application/json"})).json()
            uuid = offer_set["offers"][0]["meta"]["uuid"]
            await asyncio.sleep(0.5)
            session = (await http.get(f"/sessions/{uuid}", headers={"Accept": "application/json"})).json()
            assert session["phase"] == "EXPIRED"
            update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
            refused = await http.post(f"/sessions/{uuid}", json=update, headers={"Accept": "application/json"})
            assert refused.status_code == 409
            assert "is EXPIRED" in refused.json()["detail"]


async def test_metrics_count_requests_offer_sets_and_sessions(http: httpx.AsyncClient) -> None:
    await http.post("/requests", json=REQUEST, headers={"Accept": "application/json"})
    await http.get("/sessions/nope")
    text = (await http.get("/metrics")).text
    assert 'cirasa_broker_http_requests_total{method="POST",route="/requests",status="303"} 1' in text
    assert 'cirasa_broker_http_requests_total{method="GET",route="/sessions/{uuid}",status="404"} 1' in text
    assert 'cirasa_broker_offer_sets{result="YES"} 1' in text
    assert 'cirasa_broker_sessions{phase="OFFERED"} 2' in text


async def test_xml_round_trip_keeps_kind_as_attribute(http: httpx.AsyncClient) -> None:
    from planner.wire import codecs

    body = codecs.encode(REQUEST, codecs.XML)
    assert body.decode().split("\n")[1].startswith("<offers-request>")
    headers = {"Content-Type": "application/xml", "Accept": "application/xml"}
    response = await http.post("/requests", content=body, headers=headers)
    assert response.status_code == 303
    assert response.text.split("\n")[1].startswith('<offers-response kind="')
    offer_set = codecs.decode(response.content, "application/xml")
    assert offer_set["result"] == "YES"
    refused = await http.post("/requests", content=b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', headers=headers)
    assert refused.status_code == 400


async def test_caesar_options_are_checked_against_the_app_schema(http: httpx.AsyncClient) -> None:
    body = {**REQUEST, "executable": {**REQUEST["executable"], "options": {"seedthr": "high", "nosuch": 1}}}
    offer_set = (await http.post("/requests", json=body, headers={"Accept": "application/json"})).json()
    assert offer_set["result"] == "NO"
    texts = sorted(m["message"] for m in offer_set["meta"]["messages"])
    assert texts == [
        "Option [seedthr] has the bad value [high]; expected a number",
        "Unknown option [nosuch] for app [caesar]",
    ]
