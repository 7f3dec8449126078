"""The conformance checklist (execution-broker.md §12) against real uvicorn brokers over HTTP.

Each test is named after its check number. ``broker`` is the main server (auth on, strict mode,
5-minute offers) with platforms small (4 cores), big (16 cores) and runner (2 cores, runs local
processes); ``compat`` is a second server with 1-second offers, no auth and the Calycopis
compatibility setting. Every check runs on both path sets where the paths differ.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid as uuidlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from planner.engine.request import parse_duration, parse_interval
from planner.wire import kinds
from tests.planner.conformance import (
    PATHS,
    TOKENS,
    Broker,
    auth_settings,
    decode,
    docker,
    encode,
    request,
    runner_request,
    serve_broker,
)

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SESSION_KINDS = {kinds.SIMPLE_SESSION, kinds.SCHEDULED_SESSION}
ACCEPT = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}


@pytest.fixture(scope="module")
def main_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_broker(tmp_path_factory.mktemp("broker"), **auth_settings()) as url:
        yield url


@pytest.fixture(scope="module")
def compat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {"offer_ttl_s": "1", "compat_calycopis": "true", "poll_interval_s": "0.2"}
    with serve_broker(tmp_path_factory.mktemp("compat"), **settings) as url:
        yield url


@pytest.fixture
def broker(main_url: str) -> Iterator[Broker]:
    client = Broker(main_url, token=TOKENS["alice"])
    yield client
    client.clean_up()


@pytest.fixture
def compat(compat_url: str) -> Iterator[Broker]:
    client = Broker(compat_url)
    yield client
    client.clean_up()


@pytest.fixture(params=sorted(PATHS))
def paths(request: pytest.FixtureRequest) -> dict[str, str]:
    return PATHS[request.param]


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


# D. Execution (the "runner" platform runs the command as a local process)

ORDER = ["ACCEPTED", "WAITING", "PREPARING", "AVAILABLE", "RUNNING", "RELEASING"]


def accept_on_runner(broker: Broker, body: dict[str, Any]) -> dict[str, Any]:
    offer = offer_on(broker.offers(body), "runner")
    assert broker.set_phase(offer["meta"]["uuid"], "ACCEPTED").status_code == 200
    return offer


def test_25_26_phases_move_forward_and_exit_codes_decide(broker: Broker) -> None:
    good = accept_on_runner(broker, runner_request(["sh", "-c", "sleep 0.3"]))
    phases = broker.follow(good["meta"]["uuid"])
    assert phases[-1] == "COMPLETED"
    assert [ORDER.index(p) for p in phases[:-1]] == sorted(ORDER.index(p) for p in phases[:-1])
    bad = accept_on_runner(broker, runner_request(["sh", "-c", "exit 3"]))
    assert broker.follow(bad["meta"]["uuid"])[-1] == "FAILED"
    failed = broker.session(bad["meta"]["uuid"])
    assert any("exit code 3" in m["message"] for m in messages(failed))


def test_27_failure_while_releasing_ends_failed(broker: Broker) -> None:
    body = runner_request(["true"], executable_extra={"environment": {"OUTPUT_TO": "/dev/null/cannot"}})
    offer = accept_on_runner(broker, body)
    phases = broker.follow(offer["meta"]["uuid"])
    assert phases[-1] == "FAILED"
    assert "RELEASING" in phases or len(phases) < 4  # polled fast enough to see it, or jumped


def test_28_available_inside_the_window_and_ends_in_time(broker: Broker) -> None:
    offer = accept_on_runner(broker, runner_request(["sleep", "0.5"], duration="PT5S"))
    preparing = datetime.fromisoformat(offer["schedule"]["preparing"]["start"])
    uuid = offer["meta"]["uuid"]
    started = datetime.now(UTC)
    while (phase := broker.session(uuid)["phase"]) not in {"AVAILABLE", "RUNNING", "RELEASING", "COMPLETED"}:
        time.sleep(0.05)
    assert datetime.now(UTC) >= preparing, phase
    assert broker.follow(uuid)[-1] == "COMPLETED"
    assert datetime.now(UTC) - started < parse_duration(offer["schedule"]["available"]["duration"]) + timedelta(
        seconds=5
    )


def test_29_offered_start_inside_the_requested_window(broker: Broker) -> None:
    start = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    body = request(schedule={"requested": {"start": f"{start.isoformat()}/PT1H", "duration": "PT30M"}})
    offer_set = broker.offers(body)
    assert offer_set["result"] == "YES"
    for offer in offer_set["offers"]:
        earliest, latest = parse_interval(offer["schedule"]["available"]["start"])
        assert start <= earliest <= latest <= start + timedelta(hours=1)


def test_30_data_resource_is_readable_in_the_job(broker: Broker, tmp_path: Path) -> None:
    source = tmp_path / "tile-042.fits"
    source.write_bytes(bytes(range(256)) * 64)
    out = tmp_path / "out"
    body = runner_request(
        [
            "sh",
            "-c",
            "sha256sum input/tile-042.fits | cut -d' ' -f1 > output/sum.txt; stat -c %a input/* > output/mode",
        ],
        executable_extra={"environment": {"OUTPUT_TO": str(out)}},
        data=[{"kind": kinds.SIMPLE_DATA, "meta": {"name": "tile-042"}, "location": source.as_uri()}],
    )
    body["compute"]["volumes"] = [
        {"kind": kinds.SIMPLE_VOLUME, "path": "/input", "mode": "READONLY", "resource": "tile-042"}
    ]
    offer = accept_on_runner(broker, body)
    assert broker.follow(offer["meta"]["uuid"])[-1] == "COMPLETED"
    assert (out / "sum.txt").read_text().strip() == hashlib.sha256(source.read_bytes()).hexdigest()
    assert (out / "mode").read_text().strip() == "444"  # READONLY (the tests may run as root: mode, not touch)


# E. Direct execution


def test_31_direct_execution_redirects_to_the_session(broker: Broker, paths: dict[str, str]) -> None:
    response = broker.post(paths["direct"], {"executable": docker()})
    assert response.status_code == 303
    assert re.fullmatch(rf"https?://[^/]+/sessions/{UUID}", response.headers["location"])
    session = httpx.get(response.headers["location"], headers=broker.headers()).json()
    assert session["phase"] in {"ACCEPTED", "WAITING", "PREPARING"}
    assert session["executable"]["kind"] == kinds.DOCKER_CONTAINER
    assert session["compute"]["cores"]["min"] >= 1


def test_32_invalid_direct_execution_is_400_failed(broker: Broker, paths: dict[str, str]) -> None:
    response = broker.post(paths["direct"], {"compute": request()["compute"]})
    assert response.status_code == 400
    assert response.json()["phase"] == "FAILED"
    assert "urn:executable-required" in kinds_of(response.json())


# F. Serialisation


@pytest.mark.parametrize("body_fmt", ["json", "yaml", "xml"])
@pytest.mark.parametrize("accept", ["application/json", "application/yaml", "application/xml"])
def test_33_bodies_and_answers_in_every_media_type(broker: Broker, body_fmt: str, accept: str) -> None:
    body, headers = encode(request(cores=(1, 1)), body_fmt)
    response = httpx.post(broker.url + "/requests", content=body, headers=broker.headers(headers | {"Accept": accept}))
    assert response.status_code == 303
    assert response.headers["content-type"].startswith(accept)
    offer_set = decode(response)
    broker._remember(offer_set)
    assert offer_set["result"] == "YES"


def test_34_yaml_when_no_accept_header(broker: Broker) -> None:
    body, _ = encode(request(cores=(1, 1)), "json")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKENS['alice']}"}
    response = httpx.post(broker.url + "/requests", content=body, headers=headers)
    assert response.headers["content-type"].startswith("application/yaml")
    broker._remember(yaml.safe_load(response.text))


@pytest.mark.parametrize(
    "compute_kind",
    [
        kinds.P5 + "compute/simple-compute-resource-1.0",
        kinds.P5 + "computer/simple-compute-resource-1.0",
        kinds.P7 + "computer/simple-compute-resource.yaml",
        kinds.SIMPLE_COMPUTE,
    ],
)
def test_35_every_kind_generation_reads_the_same(broker: Broker, compute_kind: str) -> None:
    body = request(cores=(1, 1))
    body["compute"]["kind"] = compute_kind
    body["executable"]["kind"] = kinds.P5 + "executable/docker-container-1.0"
    offer_set = broker.offers(body)
    assert offer_set["result"] == "YES"
    assert {o["compute"]["kind"] for o in offer_set["offers"]} == {kinds.SIMPLE_COMPUTE}
    assert {o["executable"]["kind"] for o in offer_set["offers"]} == {kinds.DOCKER_CONTAINER}


def test_36_identifiers_times_and_durations(broker: Broker) -> None:
    offer_set = broker.offers(request(cores=(1, 1)))
    for offer in offer_set["offers"]:
        uuidlib.UUID(offer["meta"]["uuid"])
        for stamp in (offer["meta"]["created"], offer["expires"]):
            assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None
        start, duration = offer["schedule"]["available"]["start"].split("/")
        assert datetime.fromisoformat(start).tzinfo is not None
        assert re.fullmatch(r"P(T\d+S|T\d+M|T\d+H|\d+D.*)", duration)
        assert re.fullmatch(r"PT\d+S", offer["schedule"]["available"]["duration"])


# G. Optional


def test_37_costs_and_metrics(broker: Broker) -> None:
    for offer in broker.offers(request(cores=(1, 1)))["offers"]:
        for holder in (offer, offer["compute"]):
            assert holder["costs"] and holder["metrics"]
            for item in holder["costs"] + holder["metrics"]:
                assert item["kind"] in {kinds.SIMPLE_COST, kinds.SIMPLE_METRIC}
                assert item["type"].startswith("urn:ivoa:calycopis:")
                assert item["min"] <= item["max"]


def test_38_working_draft_adapter(broker: Broker) -> None:
    answer = broker.post("/request", {"request": request(cores=(1, 1))})
    assert answer.status_code == 200
    response = answer.json()["response"]
    assert response["result"] == "YES"
    offer = response["offers"][0]
    assert offer["status"] == "OFFERED" and offer["expires"] and offer["request"]
    broker.created += [o["ident"] for o in response["offers"]]
    mismatch = broker.post(
        f"/offers/{offer['ident']}", {"offer": {"ident": str(uuidlib.uuid4()), "status": "ACCEPTED"}}
    )
    assert mismatch.status_code in (400, 422)
    accepted = broker.post(f"/offers/{offer['ident']}", {"offer": {"ident": offer["ident"], "status": "ACCEPTED"}})
    assert accepted.status_code == 200
    assert accepted.json()["offer"]["status"] == "ACCEPTED"
