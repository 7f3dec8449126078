"""The conformance checklist (execution-broker.md §12) against real uvicorn brokers over HTTP.

Each test is named after its check number. ``broker`` is the main server (auth on, strict mode,
5-minute offers) with platforms small (4 cores), big (16 cores) and runner (2 cores, runs local
processes); ``compat`` is a second server with 1-second offers, no auth and the Calycopis
compatibility setting. Every check runs on both path sets where the paths differ.
"""

from __future__ import annotations

import re
import time
import uuid as uuidlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from planner.engine.request import parse_duration, parse_interval
from planner.wire import kinds
from tests.planner.conformance import (
    TOKENS,
    Broker,
    decode,
    docker,
    encode,
    request,
    runner_request,
)

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SESSION_KINDS = {kinds.SIMPLE_SESSION, kinds.SCHEDULED_SESSION}
ACCEPT = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}


def offer_on(offer_set: dict[str, Any], platform: str) -> dict[str, Any]:
    return next(o for o in offer_set["offers"] if o["x-cirasa-placement"]["platform"] == platform)


def messages(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list((document.get("meta") or {}).get("messages") or [])


def kinds_of(document: dict[str, Any]) -> set[str]:
    return {m["kind"] for m in messages(document)}


# A. Offers


@pytest.mark.parametrize("fmt", ["json", "yaml", "xml"])
def test_01_request_redirects_to_offer_set(broker: Broker, paths: dict[str, str], fmt: str) -> None:
    body, headers = encode(request(), fmt)
    response = httpx.post(broker.url + paths["request"], content=body, headers=broker.headers(headers))
    assert response.status_code == 303
    assert re.fullmatch(rf"https?://[^/]+/offersets/{UUID}", response.headers["location"])
    offer_set = decode(response)
    broker._remember({"offers": offer_set["offers"]})
    assert offer_set["meta"]["uuid"] == response.headers["location"].rsplit("/", 1)[1]
    again = httpx.get(response.headers["location"], headers=broker.headers(headers))
    assert again.status_code == 200
    assert decode(again)["meta"]["uuid"] == offer_set["meta"]["uuid"]


def test_02_yes_with_offered_sessions(broker: Broker, paths: dict[str, str]) -> None:
    before = datetime.now(UTC)
    offer_set = broker.offers(request(), paths["request"])
    assert offer_set["result"] == "YES"
    assert offer_set["offers"]
    for offer in offer_set["offers"]:
        assert offer["kind"] in SESSION_KINDS
        assert offer["phase"] == "OFFERED"
        assert datetime.fromisoformat(offer["expires"]) > before
        assert re.fullmatch(UUID, offer["meta"]["uuid"])
        assert offer["meta"]["url"].endswith(f"/sessions/{offer['meta']['uuid']}")


def test_03_offers_meet_the_minimums(broker: Broker) -> None:
    offer_set = broker.offers(request(cores=(2, 4), memory=(3, 6)))
    for offer in offer_set["offers"]:
        assert offer["compute"]["cores"]["min"] >= 2
        assert offer["compute"]["memory"]["min"] >= 3


def test_04_no_offer_exceeds_the_maximum(broker: Broker) -> None:
    offer_set = broker.offers(request(cores=(1, 3), memory=(1, 2)))
    for offer in offer_set["offers"]:
        assert offer["compute"]["cores"]["max"] <= 3
        assert offer["compute"]["memory"]["max"] <= 2


def test_05_offer_reads_the_same_as_a_session(broker: Broker) -> None:
    offer = broker.offers(request())["offers"][0]
    session = broker.session(offer["meta"]["uuid"])
    assert session["phase"] == offer["phase"] == "OFFERED"
    for component in ("executable", "compute", "data", "storage", "schedule"):
        assert session.get(component) == offer.get(component)


def test_06_requests_are_not_idempotent(broker: Broker, paths: dict[str, str]) -> None:
    first = broker.offers(request(cores=(1, 1)), paths["request"])
    second = broker.offers(request(cores=(1, 1)), paths["request"])
    assert first["meta"]["uuid"] != second["meta"]["uuid"]
    assert not {o["meta"]["uuid"] for o in first["offers"]} & {o["meta"]["uuid"] for o in second["offers"]}


def test_07_live_offers_hold_capacity_until_released(broker: Broker) -> None:
    whole_big = request(cores=(16, 16), memory=(1, 1))
    first = broker.offers(whole_big)
    assert [o["x-cirasa-placement"]["platform"] for o in first["offers"]] == ["big"]
    second = broker.offers(whole_big)
    assert second["result"] == "NO"
    assert any("free" in m["message"] and m["values"].get("platform") == "big" for m in messages(second))
    assert broker.set_phase(first["offers"][0]["meta"]["uuid"], "REJECTED").json()["phase"] == "REJECTED"
    third = broker.offers(whole_big)
    assert third["result"] == "YES"


def test_08_one_slot_per_offer(broker: Broker) -> None:
    for offer in broker.offers(request())["offers"]:
        available = offer["schedule"]["available"]
        assert available["start"].count("/") == 1
        parse_interval(available["start"])
        parse_duration(available["duration"])


def test_09_request_without_compute_gets_defaults(broker: Broker) -> None:
    offer_set = broker.offers({"executable": docker()})
    assert offer_set["result"] == "YES"
    for offer in offer_set["offers"]:
        assert offer["compute"]["cores"]["min"] >= 1
        assert offer["compute"]["memory"]["min"] >= 1


def test_10_result_is_a_string(broker: Broker) -> None:
    body, headers = encode(request(), "yaml")
    response = httpx.post(broker.url + "/requests", content=body, headers=broker.headers(headers))
    assert "result: 'YES'" in response.text
    broker._remember(yaml.safe_load(response.text))
    assert '"result":"YES"' in broker.post("/requests", request()).text


# B. Negative answers


def test_11_no_executable_is_a_no(broker: Broker, paths: dict[str, str]) -> None:
    offer_set = broker.offers({"compute": request()["compute"]}, paths["request"])
    assert (offer_set["result"], offer_set["offers"]) == ("NO", [])
    assert "urn:executable-required" in kinds_of(offer_set)


@pytest.mark.parametrize("kind", [kinds.SINGULARITY_CONTAINER, kinds.JUPYTER_NOTEBOOK, "urn:no-such-kind"])
def test_12_unsupported_kind_is_a_no(broker: Broker, kind: str) -> None:
    offer_set = broker.offers({"executable": {"kind": kind, "location": "https://example.org/x"}})
    assert offer_set["result"] == "NO"
    assert "uri:unknown-type" in kinds_of(offer_set)


def test_13_minimum_over_limit_is_no_maximum_is_capped(broker: Broker) -> None:
    too_big = broker.offers(request(cores=(128, 128)))
    assert too_big["result"] == "NO"
    assert "urn:resource-limit" in kinds_of(too_big)
    capped = broker.offers(request(cores=(2, 128)))
    assert capped["result"] == "YES"
    for offer in capped["offers"]:
        assert offer["compute"]["cores"]["max"] < 128
        assert any(m["level"] == "WARN" for m in messages(offer))


def test_14_bad_duration_is_a_syntax_no(broker: Broker) -> None:
    offer_set = broker.offers(request(schedule={"requested": {"duration": "banana"}}))
    assert offer_set["result"] == "NO"
    assert "urn:input-syntax-fail" in kinds_of(offer_set)


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        (
            {"data": [{"kind": kinds.SIMPLE_DATA, "meta": {"name": "d"}, "storage": "nowhere"}]},
            "uri:resource-not-found",
        ),
        ({"volumes": [{"kind": kinds.SIMPLE_VOLUME, "path": "/in", "resource": "nothing"}]}, "uri:resource-not-found"),
        (
            {
                "data": [{"kind": kinds.SIMPLE_DATA, "meta": {"name": "twin"}}],
                "storage": [{"kind": kinds.SIMPLE_STORAGE, "meta": {"name": "twin"}}],
            },
            "uri:duplicate-resource",
        ),
    ],
    ids=["data-storage", "volume-resource", "duplicate"],
)
def test_15_dangling_references_are_a_no(broker: Broker, extra: dict[str, Any], kind: str) -> None:
    body = request()
    if "volumes" in extra:
        body["compute"]["volumes"] = extra.pop("volumes")
    offer_set = broker.offers(body | extra)
    assert offer_set["result"] == "NO"
    assert kind in kinds_of(offer_set)


@pytest.mark.parametrize(
    ("executable", "kind"),
    [
        (docker(privileged=True), "urn:not-supported"),
        (docker(network={"ports": [{"internal": {"port": 80}, "external": {"port": 8080}}]}), "urn:not-supported"),
        (docker(network={"ports": [{"internal": {"port": 0}}]}), "urn:invalid-value"),
    ],
    ids=["privileged", "external-port", "internal-port"],
)
def test_16_unsafe_containers_are_a_no(broker: Broker, executable: dict[str, Any], kind: str) -> None:
    offer_set = broker.offers(request(executable=executable))
    assert offer_set["result"] == "NO"
    assert kind in kinds_of(offer_set)


def test_17_message_items_are_well_formed(broker: Broker) -> None:
    offer_set = broker.offers(
        request(cores=(128, 256), executable=docker(privileged=True), schedule={"requested": {"duration": "x"}})
    )
    assert messages(offer_set)
    for item in messages(offer_set):
        assert item["kind"] and item["template"]
        assert item["level"] in {"DEBUG", "WARN", "ERROR", "INFO", "OTHER"}
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in item["values"].items())


# C. Accept, reject, cancel


@pytest.mark.parametrize("path", ["phase", "/phase"])
def test_18_accept_an_offer(broker: Broker, path: str) -> None:
    offer = broker.offers(request())["offers"][0]
    response = broker.set_phase(offer["meta"]["uuid"], "ACCEPTED", path=path)
    assert response.status_code == 200
    assert response.json()["phase"] in {"ACCEPTED", "WAITING", "PREPARING"}


def test_19_accept_rejects_the_siblings(broker: Broker) -> None:
    offers = broker.offers(request(cores=(1, 2)))["offers"]
    assert len(offers) >= 2
    broker.set_phase(offers[0]["meta"]["uuid"], "ACCEPTED")
    assert {broker.session(o["meta"]["uuid"])["phase"] for o in offers[1:]} == {"REJECTED"}


def test_20_reject_then_accept_is_refused(broker: Broker, compat: Broker) -> None:
    uuid = broker.offers(request())["offers"][0]["meta"]["uuid"]
    assert broker.set_phase(uuid, "REJECTED").json()["phase"] == "REJECTED"
    strict = broker.set_phase(uuid, "ACCEPTED")
    assert strict.status_code == 409
    assert strict.json()["options"] == []
    assert broker.session(uuid)["phase"] == "REJECTED"
    other = compat.offers(request())["offers"][0]["meta"]["uuid"]
    compat.set_phase(other, "REJECTED")
    lenient = compat.set_phase(other, "ACCEPTED")
    assert lenient.status_code == 200
    assert lenient.json()["phase"] == "REJECTED"
    assert any(m["level"] == "ERROR" for m in messages(lenient.json()))


def test_21_cancel_from_every_live_phase_and_not_after_the_end(broker: Broker) -> None:
    offered = broker.offers(request())["offers"][0]["meta"]["uuid"]
    assert broker.set_phase(offered, "CANCELLED").json()["phase"] == "CANCELLED"
    accepted = offer_on(broker.offers(request()), "small")["meta"]["uuid"]
    broker.set_phase(accepted, "ACCEPTED")
    assert broker.set_phase(accepted, "CANCELLED").json()["phase"] == "CANCELLED"
    broker.clean_up()  # release the siblings still OFFERED
    running = offer_on(broker.offers(runner_request(["sleep", "30"])), "runner")["meta"]["uuid"]
    broker.set_phase(running, "ACCEPTED")
    deadline = time.monotonic() + 10
    while broker.session(running)["phase"] != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert broker.set_phase(running, "CANCELLED").json()["phase"] == "CANCELLED"
    done = offer_on(broker.offers(runner_request(["true"])), "runner")["meta"]["uuid"]
    broker.set_phase(done, "ACCEPTED")
    assert broker.follow(done)[-1] == "COMPLETED"
    refused = broker.set_phase(done, "CANCELLED")
    assert refused.status_code == 409
    assert broker.session(done)["phase"] == "COMPLETED"


def test_22_expired_offer_cannot_be_accepted(compat: Broker) -> None:
    offer = compat.offers(request())["offers"][0]
    assert datetime.fromisoformat(offer["expires"]) - datetime.now(UTC) <= timedelta(seconds=1)
    time.sleep(1.2)
    assert compat.session(offer["meta"]["uuid"])["phase"] == "EXPIRED"
    answer = compat.set_phase(offer["meta"]["uuid"], "ACCEPTED").json()
    assert answer["phase"] == "EXPIRED"
    assert any(m["level"] == "ERROR" for m in messages(answer))


def test_23_unknown_ids_are_404(broker: Broker) -> None:
    unknown = str(uuidlib.uuid4())
    assert broker.get(f"/sessions/{unknown}").status_code == 404
    assert broker.get(f"/offersets/{unknown}").status_code == 404
    assert broker.set_phase(unknown, "ACCEPTED").status_code == 404


def test_24_owners_and_credentials(broker: Broker, main_url: str) -> None:
    anonymous = Broker(main_url)
    assert anonymous.post("/requests", request()).status_code == 401
    offer_set = broker.offers(request())
    uuid = offer_set["offers"][0]["meta"]["uuid"]
    assert anonymous.set_phase(uuid, "ACCEPTED").status_code == 401
    assert anonymous.get(f"/sessions/{uuid}").status_code == 401
    bob = Broker(main_url, token=TOKENS["bob"])
    assert bob.set_phase(uuid, "ACCEPTED").status_code == 403
    assert bob.get(f"/sessions/{uuid}").status_code == 403
    assert bob.get(f"/offersets/{offer_set['meta']['uuid']}").status_code == 403
    assert Broker(main_url, token="not-a-token").get(f"/sessions/{uuid}").status_code == 401
    assert broker.session(uuid)["phase"] == "OFFERED"
