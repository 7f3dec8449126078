"""Bearer-token auth: exposure rules, token files, read policies, and tokens kept out of logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from planner.adapters.static import StaticAdapter
from planner.api.app import create_app
from planner.auth import Authenticator, InsecureExposureError, check_exposure, read_token_file
from planner.settings import BrokerSettings, TokenEntry
from tests.planner.broker_app import declared
from tests.planner.conformance import request

SECRET = "s3cret-token-of-alice"


def test_open_broker_beyond_loopback_refuses_to_start() -> None:
    with pytest.raises(InsecureExposureError, match=r"would listen on 0\.0\.0\.0 without authentication"):
        create_app(BrokerSettings(host="0.0.0.0", platforms=[]), adapters=[])


def test_broker_beyond_loopback_starts_with_tokens() -> None:
    create_app(BrokerSettings(host="0.0.0.0", platforms=[], auth_tokens=[TokenEntry(token=SECRET, owner="a")]), [])


def test_open_loopback_broker_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        check_exposure("::1", Authenticator({}))
    assert "broker is OPEN" in caplog.text


def test_token_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# owner token\nalice  t-a\n\nbob t-b  # the second\n")
    assert read_token_file(path) == {"t-a": "alice", "t-b": "bob"}
    path.write_text("alice t-a extra\n")
    with pytest.raises(ValueError, match=r"tokens:1: expected '<owner> <token>'") as info:
        read_token_file(path)
    assert "t-a" not in str(info.value)


@pytest.fixture(params=["owner", "authenticated", "public"])
async def policy_app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"alice {SECRET}\nbob t-bob\n")
    settings = BrokerSettings(
        platforms=[],
        auth_tokens_file=tokens,
        read_policy=request.param,
        database_url=f"sqlite:///{tmp_path / 'b.db'}",
    )
    app = create_app(settings, adapters=[StaticAdapter(declared("small", 4, 8))])
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://b") as client:
            yield request.param, client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


async def test_read_policies(policy_app: tuple[str, httpx.AsyncClient], caplog: pytest.LogCaptureFixture) -> None:
    policy, client = policy_app
    caplog.set_level(logging.DEBUG)
    created = await client.post("/requests", json=request(cores=(1, 1)), headers=bearer(SECRET))
    assert created.status_code == 303
    url = created.headers["location"]
    anonymous = (await client.get(url, headers={"Accept": "application/json"})).status_code
    other = (await client.get(url, headers=bearer("t-bob"))).status_code
    mine = (await client.get(url, headers=bearer(SECRET))).status_code
    expected = {"owner": (401, 403, 200), "authenticated": (401, 200, 200), "public": (200, 200, 200)}
    assert (anonymous, other, mine) == expected[policy]
    assert (await client.get(url, headers=bearer("wrong"))).status_code == 401
    assert SECRET not in caplog.text


async def test_401_says_how_to_authenticate(policy_app: tuple[str, httpx.AsyncClient]) -> None:
    _, client = policy_app
    response = await client.post("/requests", json=request(), headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "urn:cirasa:problem:auth-required"
