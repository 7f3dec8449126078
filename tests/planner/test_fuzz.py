"""Fuzzing the served OpenAPI: bodies generated from its request schemas, and arbitrary JSON.

No answer may be a 5xx; 200/303 answers must validate against the response models. Bounded to a
few hundred requests in-process (well under a minute).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.adapters.static import StaticAdapter
from planner.api.app import create_app
from planner.settings import BrokerSettings
from planner.wire.models import OfferSetResponse, ScheduledExecutionSession
from tests.planner.broker_app import declared
from tests.planner.schema_strategy import strategy

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "b.db"
    settings_ = BrokerSettings(platforms=[], offer_ttl_s=2, database_url=f"sqlite:///{path}")
    app = create_app(
        settings_, adapters=[StaticAdapter(declared("small", 4, 8)), StaticAdapter(declared("big", 64, 128))]
    )
    with TestClient(app, base_url="http://broker", follow_redirects=False) as test_client:
        test_client.headers["Accept"] = "application/json"
        yield test_client


def from_openapi(document: dict[str, Any], name: str) -> st.SearchStrategy[Any]:
    schemas = document["components"]["schemas"]
    return strategy(schemas[name], schemas)


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def test_openapi_documents_both_path_sets(openapi: dict[str, Any]) -> None:
    operations = {op["operationId"] for path in openapi["paths"].values() for op in path.values()}
    assert {
        "ExecutionRequest",
        "OfferSetPost",
        "OfferSetSelect",
        "DirectExecution",
        "DirectExecutionPost",
    } <= operations
    assert {"SessionSelect", "SessionUpdate", "WorkingDraftRequest"} <= operations
    body = openapi["paths"]["/requests"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/yaml", "application/xml"}
    assert "ExecutionRequest" in openapi["components"]["schemas"]


def check(response: Any, model: type[OfferSetResponse] | type[ScheduledExecutionSession] | None) -> None:
    assert response.status_code < 500, response.text
    if model is not None and response.status_code in (200, 303):
        model.model_validate(response.json())


def test_fuzz_request_bodies_from_the_schema(client: TestClient, openapi: dict[str, Any]) -> None:
    @FUZZ
    @given(body=from_openapi(openapi, "ExecutionRequest"), path=st.sampled_from(["/requests", "/offersets"]))
    def run(body: Any, path: str) -> None:
        check(client.post(path, json=body), OfferSetResponse)

    run()


def test_fuzz_direct_execution(client: TestClient, openapi: dict[str, Any]) -> None:
    @FUZZ
    @given(body=from_openapi(openapi, "ExecutionRequest"), path=st.sampled_from(["/direct", "/sessions"]))
    def run(body: Any, path: str) -> None:
        response = client.post(path, json=body)
        check(response, ScheduledExecutionSession)
        if response.status_code == 400 and "phase" in response.json():
            assert response.json()["phase"] == "FAILED"

    run()


def test_fuzz_session_updates(client: TestClient, openapi: dict[str, Any]) -> None:
    offer_set = client.post(
        "/requests", json={"executable": {"kind": "urn:cirasa:executable:caesar-job", "inputs": ["a"]}}
    )
    sessions = [o["meta"]["uuid"] for o in offer_set.json()["offers"]] + ["no-such-session"]

    @FUZZ
    @given(
        body=from_openapi(openapi, "EnumValueUpdate") | JSON_VALUES,
        uuid=st.sampled_from(sessions),
    )
    def run(body: Any, uuid: str) -> None:
        check(client.post(f"/sessions/{uuid}", json=body), ScheduledExecutionSession)

    run()


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml", "application/xml"])
def test_fuzz_arbitrary_bytes_and_values(client: TestClient, content_type: str) -> None:
    @settings(max_examples=40, deadline=None)
    @given(data=st.binary(max_size=200) | JSON_VALUES.map(lambda v: repr(v).encode()))
    def run(data: bytes) -> None:
        for path in ("/requests", "/direct", "/request"):
            check(client.post(path, content=data, headers={"Content-Type": content_type}), None)

    run()
