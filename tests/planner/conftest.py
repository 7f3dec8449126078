"""Fixtures of the conformance suite: the real brokers are started once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.planner.conformance import PATHS, TOKENS, Broker, auth_settings, serve_broker


@pytest.fixture(scope="session")
def main_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_broker(tmp_path_factory.mktemp("broker"), **auth_settings()) as url:
        yield url


@pytest.fixture(scope="session")
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
