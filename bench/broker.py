"""Broker throughput on SQLite: offer sets per second and session reads per second.

A real uvicorn process serves the broker with two static platforms (so the numbers measure the
broker, not a scheduler); the load comes from one httpx client process with bounded concurrency.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.machine import machine_info
from cirasa.services import free_port, wait_healthy

RESULTS = Path(__file__).resolve().parent / "results"
APP = """
from planner.adapters.static import StaticAdapter
from planner.api.app import create_app
from planner.engine.model import PlatformKind, PlatformSnapshot
from planner.settings import BrokerSettings

# Capacity large enough that the offers held by the benchmark never fill a platform (every answer is a
# YES, so the numbers include the capacity ledger's read under its lock and the storing of offers).
def snapshot(name, cores):
    return PlatformSnapshot(name=name, kind=PlatformKind.PREFECT_POOL, work_pool="pool-" + name, available=True,
                            total_cores=cores, free_cores=cores, total_memory_gib=cores, free_memory_gib=cores)

app = create_app(BrokerSettings(platforms=[]),
                 adapters=[StaticAdapter(snapshot("a", 100_000)), StaticAdapter(snapshot("b", 200_000))])
"""
REQUEST = {
    "executable": {"kind": "urn:cirasa:executable:caesar-job", "inputs": ["x.fits"]},
    "compute": {"cores": {"min": 1, "max": 4}, "memory": {"min": 1, "max": 2}},
}


async def _load(url: str, n: int, concurrency: int, make: Any) -> dict[str, float]:
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Accept": "application/json"}, timeout=30) as client:

        async def one(i: int) -> None:
            async with semaphore:
                start = time.perf_counter()
                response = await make(client, i)
                latencies.append(time.perf_counter() - start)
                if response.status_code not in (200, 303):
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": n,
        "concurrency": concurrency,
        "per_second": round(n / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(latencies[int(0.95 * (n - 1))] * 1000, 2),
    }


async def _run(url: str) -> dict[str, Any]:
    offer_sets = await _load(url, 400, 8, lambda c, i: c.post("/requests", json=REQUEST))
    async with httpx.AsyncClient(base_url=url, headers={"Accept": "application/json"}) as client:
        sessions = [
            (await client.post("/requests", json=REQUEST)).json()["offers"][0]["meta"]["uuid"] for _ in range(20)
        ]
    reads = await _load(url, 2000, 16, lambda c, i: c.get(f"/sessions/{sessions[i % len(sessions)]}"))
    return {"offer_sets": offer_sets, "session_reads": reads}


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        Path(home, "bench_app.py").write_text(APP)
        port = free_port()
        env = {**os.environ, "CIRASA_HOME": home, "PYTHONPATH": home}
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench_app:app", "--port", str(port), "--log-level", "warning"],
            env=env,
            cwd=home,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(f"{url}/healthz", server, timeout_s=30)
            results = asyncio.run(_run(url))
        finally:
            server.terminate()
            server.wait(10)
    document = {
        "benchmark": "broker",
        "storage": "sqlite",
        "goal": {"offer_sets_per_second": 100, "session_reads_per_second": 500},
        "results": results,
        "machine": machine_info(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "broker.json").write_text(json.dumps(document, indent=2) + "\n")
    return document


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
