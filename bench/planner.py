"""Decision latency of a broker fronting 20 remote brokers (federation), one of them dead.

- 19 live remote brokers, each a real broker app (own SQLite file) with one static platform that
  answers after an injected 50 ms; to stay within 2 cores they share 4 uvicorn processes, each
  serving several under path prefixes (``/b0``, ``/b1``, ...).
- 1 dead remote broker: a socket that accepts connections and never answers.
- The front broker is its own uvicorn process whose 20 platforms are ``kind = "broker"``, each with
  the per-platform time-out ``TIMEOUT_S``; it must answer within that time-out despite the dead one.

A decision is one ``POST /requests`` to the front broker (it asks all 20 at once, rejects the remote
offers) plus choosing among the offers; decisions run one after another, after a warm-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from cirasa.services import free_port, wait_healthy
from planner.adapters.remote_broker import reject_offers
from planner.client import BrokerClient
from planner.engine.choose import NoOfferError, choose
from planner.planning import JobSpec, build_request

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = 20
PROCESSES = 4
LATENCY_S = 0.05
TIMEOUT_S = 0.15
REMOTE_TTL_S = 10.0
WARMUP = 10
DECISIONS = int(os.environ.get("BENCH_DECISIONS", "60"))

REMOTE_APP = """
import os
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from planner.adapters.static import StaticAdapter
from planner.api.app import create_app
from planner.engine.model import PlatformKind, PlatformSnapshot
from planner.settings import BrokerSettings

HOME = os.environ["CIRASA_HOME"]
LATENCY_S = float(os.environ["BENCH_LATENCY_S"])
INDICES = [int(i) for i in os.environ["BENCH_INDICES"].split(",")]


def rooted(inner):
    # Mount puts the prefix in root_path; the broker's URLs (Location, meta.url) need it in base_url.
    async def asgi(scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "app_root_path": scope.get("root_path", "")}
        await inner(scope, receive, send)
    return asgi


def broker(i):
    snapshot = PlatformSnapshot(name=f"site{i}", kind=PlatformKind.PREFECT_POOL, work_pool=f"pool-site{i}",
                                available=True, total_cores=1024, free_cores=1024,
                                total_memory_gib=16, free_memory_gib=16)
    settings = BrokerSettings(platforms=[], config_file=None, database_url=f"sqlite+aiosqlite:///{HOME}/b{i}.sqlite3")
    return create_app(settings, adapters=[StaticAdapter(snapshot, delay_s=LATENCY_S)])


subs = {i: broker(i) for i in INDICES}


@asynccontextmanager
async def lifespan(app):
    async with AsyncExitStack() as stack:
        for sub in subs.values():
            await stack.enter_async_context(sub.router.lifespan_context(sub))
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


for i, sub in subs.items():
    app.mount(f"/b{i}", rooted(sub))
"""


class DeadBroker:
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.listener.settimeout(0.2)
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                self.held.append(self.listener.accept()[0])
            except TimeoutError:
                continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        for conn in self.held:
            conn.close()
        self.listener.close()


def _serve(argv: list[str], env: dict[str, str], cwd: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", *argv], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def _start_front(
    home: str, base_env: dict[str, str], urls: list[str], timeout_s: float
) -> tuple[str, subprocess.Popen[bytes]]:
    """The front broker (``cirasa broker serve``) whose platforms are the remote brokers at ``urls``."""
    port = free_port()
    config = Path(home, f"front{port}.toml")
    config.write_text(_front_config(urls, timeout_s))
    env = {
        **base_env,
        "CIRASA_BROKER_PLATFORM_TIMEOUT_S": str(timeout_s),
        "CIRASA_BROKER_DATABASE_URL": f"sqlite+aiosqlite:///{home}/front{port}.sqlite3",
    }
    argv = ["cirasa.main", "broker", "serve", "--port", str(port), "--config", str(config)]
    process = _serve(argv, env, str(ROOT), Path(home, f"front{port}.log"))
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url + "/healthz", process)
    return url, process


def _front_config(urls: list[str], timeout_s: float) -> str:
    lines = []
    for i, url in enumerate(urls):
        lines += [
            "[[platforms]]",
            f'name = "remote{i:02d}"',
            'kind = "broker"',
            f'url = "{url}"',
            f'work_pool = "pool-remote{i:02d}"',
            f"timeout_s = {timeout_s}",
            "",
        ]
    return "\n".join(lines)


async def _decide(client: BrokerClient, job: JobSpec) -> tuple[float, int, int]:
    start = time.perf_counter()
    offer_set = await client.request_offers(build_request(job))
    with contextlib.suppress(NoOfferError):  # counted below: a decision without offers is a result too
        choose(offer_set, datetime.now(UTC))
    elapsed = time.perf_counter() - start
    await reject_offers(client, offer_set)  # untimed: frees the front broker's capacity ledger for the next one
    dead = sum(1 for m in (offer_set.meta.messages if offer_set.meta else []) if "did not answer" in m.message)
    return elapsed, len(offer_set.offers), dead


async def _warm_up(urls: list[str], job: JobSpec) -> None:
    """One request to each remote broker directly (first requests are slow), its offers rejected."""
    for url in urls:
        async with BrokerClient(url, timeout_s=10) as client:
            await reject_offers(client, await client.request_offers(build_request(job)))


async def _measure(front_url: str, remote_urls: list[str]) -> dict[str, Any]:
    job = JobSpec(name="bench", inputs=("a.fits",), cores_min=1, cores_max=4)
    await _warm_up(remote_urls, job)
    async with BrokerClient(front_url, timeout_s=10) as client:
        for _ in range(WARMUP):
            await _decide(client, job)
        runs = [await _decide(client, job) for _ in range(DECISIONS)]
    latencies = sorted(r[0] for r in runs)
    return {
        "decisions": DECISIONS,
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "min_ms": round(latencies[0] * 1000, 1),
        "offers_per_decision": {"min": min(r[1] for r in runs), "max": max(r[1] for r in runs)},
        "reported_not_answering": {"min": min(r[2] for r in runs), "max": max(r[2] for r in runs)},
    }


def main() -> dict[str, Any]:
    dead = DeadBroker()
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as home:
        Path(home, "bench_remote.py").write_text(REMOTE_APP)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("CIRASA_BROKER_")}
        base_env.update(CIRASA_HOME=home, PYTHONPATH=f"{home}{os.pathsep}{ROOT}", BENCH_LATENCY_S=str(LATENCY_S))
        # Remote offers whose offer set arrived after the time-out cannot be rejected: they hold until
        # the remote broker expires them, so the remotes here expire offers after REMOTE_TTL_S.
        remote_env = {**base_env, "CIRASA_BROKER_OFFER_TTL_S": str(REMOTE_TTL_S)}
        live = PLATFORMS - 1
        groups = [list(range(live))[p::PROCESSES] for p in range(PROCESSES)]
        urls: list[str] = []
        try:
            servers = []
            for indices in groups:
                port = free_port()
                env = {**remote_env, "BENCH_INDICES": ",".join(map(str, indices))}
                argv = ["uvicorn", "bench_remote:app", "--port", str(port), "--log-level", "warning"]
                processes.append(_serve(argv, env, home, Path(home, f"remote{port}.log")))
                servers.append((f"http://127.0.0.1:{port}", processes[-1]))
                urls += [f"http://127.0.0.1:{port}/b{i}" for i in indices]
            for url, process in servers:
                wait_healthy(url + "/healthz", process)
            results = {}
            # The goal's set-up: the dead broker hangs, so every answer waits for the time-out.
            # For comparison: the dead broker refuses connections, so the live ones set the pace.
            for scenario, dead_url, timeout_s in (
                ("dead_refuses", f"http://127.0.0.1:{free_port()}", 2.0),
                ("dead_hangs", dead.url, TIMEOUT_S),
            ):
                front = _start_front(home, base_env, [*urls, dead_url], timeout_s)
                processes.append(front[1])
                try:
                    results[scenario] = {"per_platform_timeout_ms": timeout_s * 1000}
                    results[scenario].update(asyncio.run(_measure(front[0], urls)))
                finally:
                    front[1].terminate()
                    front[1].wait(10)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(10)
            dead.close()
    document = {
        "benchmark": "planner",
        "setup": {
            "platforms": PLATFORMS,
            "live_remote_brokers": PLATFORMS - 1,
            "dead_remote_brokers": 1,
            "dead_means": "accepts connections, never answers",
            "remote_processes": PROCESSES,
            "injected_latency_ms": LATENCY_S * 1000,
            "remote_offer_ttl_s": REMOTE_TTL_S,
            "storage": "sqlite (each broker its own file)",
        },
        "goal": {"p95_ms": 200, "scenario": "dead_hangs"},
        "results": results,
        "machine": machine_info(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "planner.json").write_text(json.dumps(document, indent=2) + "\n")
    return document


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
