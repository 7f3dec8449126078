"""Conformance checklist, sections D-G (execution, direct execution, serialisation, optional).

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


def offer_on(offer_set: dict[str, Any], platform: str) -> dict[str, Any]:
    return next(o for o in offer_set["offers"] if o["x-cirasa-placement"]["platform"] == platform)


def messages(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list((document.get("meta") or {}).get("messages") or [])


def kinds_of(document: dict[str, Any]) -> set[str]:
    return {m["kind"] for m in messages(document)}


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
