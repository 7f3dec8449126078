"""A broker process restarted on the same SQLite file loses nothing, and expiry still applies."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from tests.planner.conformance import Broker, request, serve_broker


def test_restart_keeps_offer_sets_and_sessions_and_expires_later(tmp_path: Path) -> None:
    settings = {"offer_ttl_s": "8"}
    with serve_broker(tmp_path, **settings) as url:
        broker = Broker(url)
        offer_set = broker.offers(request(cores=(1, 1)))
        first, *others = (o["meta"]["uuid"] for o in offer_set["offers"])
        assert broker.set_phase(first, "ACCEPTED").json()["phase"] == "ACCEPTED"
        live_offer = broker.offers(request(cores=(1, 1)))["offers"][0]
        live, expires = live_offer["meta"]["uuid"], datetime.fromisoformat(live_offer["expires"])
    with serve_broker(tmp_path, **settings) as url:
        broker = Broker(url)
        again = broker.get(f"/offersets/{offer_set['meta']['uuid']}").json()
        assert [o["meta"]["uuid"] for o in again["offers"]] == [first, *others]
        assert broker.session(first)["phase"] == "ACCEPTED"
        assert {broker.session(o)["phase"] for o in others} == {"REJECTED"}
        assert broker.session(live)["phase"] == "OFFERED"
        time.sleep(max((expires - datetime.now(UTC)).total_seconds(), 0) + 0.1)
        assert broker.session(live)["phase"] == "EXPIRED"
        assert broker.set_phase(live, "ACCEPTED").status_code == 409
