"""The planner's client side: re-planning when an accepted offer is refused or none is usable, pools
to avoid, and `cirasa plan` (table and --json) against a real broker process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager
from typer.testing import CliRunner

from cirasa.main import app as cli
from planner.adapters.static import StaticAdapter
from planner.api.app import create_app
from planner.client import BrokerClient
from planner.engine.model import PlatformKind, PlatformSnapshot
from planner.planning import JobSpec, PlanningFailedError, build_request, plan
from planner.settings import BrokerSettings
from tests.planner.test_remote_broker import remote_url

__all__ = ["remote_url"]  # the second broker process (module fixture), reused here for the CLI

JOB = JobSpec(name="t", inputs=("a.fits",), cores_min=1, cores_max=4)


def platform(name: str, cores: int) -> StaticAdapter:
    return StaticAdapter(
        PlatformSnapshot(
            name=name,
            kind=PlatformKind.PREFECT_POOL,
            work_pool=f"pool-{name}",
            available=True,
            total_cores=cores,
            free_cores=cores,
            total_memory_gib=8,
            free_memory_gib=8,
        )
    )


class RefuseFirstAccept(httpx.AsyncBaseTransport):
    """Transport seam: before the first accept reaches the broker, another client rejects that offer
    (what a competing client or an expiry does), so the broker refuses the accept with 409."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.refused: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.startswith("/sessions/") and not self.refused:
            self.refused.append(request.url.path)
            rejection = httpx.Request(
                "POST",
                request.url,
                json={"kind": "uri:enum-value-update", "path": "phase", "value": "REJECTED"},
                headers={"Accept": "application/json"},
            )
            await self.inner.handle_async_request(rejection)
        return await self.inner.handle_async_request(request)


async def broker_app(tmp_path: Path, ttl_s: float = 300.0) -> AsyncIterator[httpx.AsyncBaseTransport]:
    settings = BrokerSettings(
        config_file=None, platforms=[], offer_ttl_s=ttl_s, database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    )
    async with LifespanManager(create_app(settings, adapters=[platform("small", 2), platform("big", 8)])) as manager:
        yield httpx.ASGITransport(app=manager.app)


@pytest.fixture
async def transport(tmp_path: Path) -> AsyncIterator[httpx.AsyncBaseTransport]:
    async for t in broker_app(tmp_path):
        yield t


@pytest.fixture
async def expiring(tmp_path: Path) -> AsyncIterator[httpx.AsyncBaseTransport]:
    async for t in broker_app(tmp_path, ttl_s=0.001):
        yield t


async def test_refused_accept_is_replanned_and_the_reason_kept(transport: httpx.AsyncBaseTransport) -> None:
    refusing = RefuseFirstAccept(transport)
    async with BrokerClient("http://broker", transport=refusing) as client:
        decision = await plan(client, JOB, retry_delay_s=0)
    assert len(refusing.refused) == 1
    assert decision.session.phase.value == "ACCEPTED"
    assert decision.work_pool == "pool-big"
    (failure,) = decision.attempts
    assert failure.startswith("attempt 1: invalid-transition: POST /sessions/")
    assert "is REJECTED; it cannot become ACCEPTED" in failure


async def test_offers_that_keep_expiring_fail_after_the_bounded_attempts(
    expiring: httpx.AsyncBaseTransport,
) -> None:
    async with BrokerClient("http://broker", transport=expiring) as client:
        with pytest.raises(PlanningFailedError) as caught:
            await plan(client, JOB, max_attempts=3, retry_delay_s=0)
    reasons = caught.value.extra["reasons"]
    assert [r.split(":", 1)[0] for r in reasons] == ["attempt 1", "attempt 2", "attempt 3"]
    assert all("no-offer: no usable offer" in r and "past its expiry" in r for r in reasons)
    assert caught.value.detail.startswith("no offer accepted for t after 3 attempt(s): attempt 1: no-offer")


async def test_avoided_pool_is_listed_but_never_chosen(transport: httpx.AsyncBaseTransport) -> None:
    async with BrokerClient("http://broker", transport=transport) as client:
        decision = await plan(client, JOB, avoid_pools=frozenset({"pool-big"}))
    assert decision.work_pool == "pool-small"
    statuses = {r.platform: r.status for r in decision.choice.rows}
    assert statuses == {"small": "chosen", "big": "avoided"}


def write_request(tmp_path: Path, cores_min: int) -> Path:
    body = build_request(JobSpec(name="cli", inputs=("a.fits",), cores_min=cores_min, cores_max=max(cores_min, 4)))
    path = tmp_path / "request.yaml"
    path.write_text(yaml.safe_dump(body.model_dump(mode="json", by_alias=True, exclude_none=True)))
    return path


def test_cli_plan_prints_the_table_with_choice_and_reasons(remote_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(write_request(tmp_path, 1)), "--broker", remote_url])
    assert result.exit_code == 0, result.output
    assert f"Offers from {remote_url}" in result.output
    assert "chosen: far-big (work pool pool-far-big): best score" in result.output
    assert "far-small" in result.output
    assert "score" in result.output and "below the chosen offer" in result.output


def test_cli_plan_json_is_complete(remote_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(write_request(tmp_path, 1)), "--broker", remote_url, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["broker"] == remote_url
    assert document["offer_set"]["result"] == "YES"
    assert document["offer_set"]["url"].startswith(remote_url + "/offersets/")
    assert document["chosen"]["platform"] == "far-big"
    assert document["chosen"]["work_pool"] == "pool-far-big"
    assert document["chosen"]["offer_url"].startswith(remote_url + "/sessions/")
    rows = {row["platform"]: row for row in document["rows"]}
    assert [rows["far-big"]["status"], rows["far-small"]["status"]] == ["chosen", "offered"]
    assert set(rows["far-big"]["score_terms"]) == {"fit", "start", "cost", "locality", "preference"}
    assert rows["far-small"]["start_source"] == "declared (static platform)"
    assert rows["far-small"]["start_earliest"] <= rows["far-small"]["start_latest"]
    assert document["reasons"] == []


def test_cli_plan_no_offer_lists_every_declining_platform_and_exits_1(remote_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(write_request(tmp_path, 16)), "--broker", remote_url, "--json"])
    assert result.exit_code == 1
    document = json.loads(result.output[: result.output.rindex("}") + 1])
    assert (document["offer_set"]["result"], document["chosen"]) == ("NO", None)
    whys = {row["platform"]: row["why"] for row in document["rows"]}
    assert set(whys) == {"far-big", "far-small"}
    assert whys["far-big"] == ("Minimum cores [16] exceeds the limit [4] of platform far-big (total capacity 4 cores)")
    assert len(document["reasons"]) == 2
