"""The production Prefect server recipe (infra/prefect) on a real PostgreSQL: it starts, migrates,
and serves a work pool and a deployment's flow run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cirasa.services import free_port, wait_healthy
from tests.services.postgres import create_database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def test_start_server_script_refuses_sqlite() -> None:
    env = {**os.environ, "CIRASA_PREFECT_DATABASE_URL": "sqlite+aiosqlite:///x.db"}
    done = subprocess.run([str(ROOT / "infra/prefect/start-server.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "must be postgresql+asyncpg://" in done.stderr


def test_prefect_server_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    url = asyncio.run(create_database(postgres_url))
    port = free_port()
    env = {
        **os.environ,
        "CIRASA_PREFECT_DATABASE_URL": url,
        "CIRASA_PREFECT_HOST": "127.0.0.1",
        "CIRASA_PREFECT_PORT": str(port),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_BIN": str(Path(sys.executable).parent / "prefect"),
    }
    env.pop("PREFECT_API_URL", None)
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(ROOT / "infra/prefect/start-server.sh")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        try:
            wait_healthy(f"{api}/health", server, timeout_s=90)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(
                f"Prefect on PostgreSQL did not become healthy ({exc}): {(tmp_path / 'server.log').read_text()[-2000:]}"
            )
        settings = httpx.get(f"{api}/admin/settings").json()
        assert settings["server"]["database"]["connection_url"] == "**********"  # a secret, shown masked
        database = url.rsplit("/", 1)[1]
        sessions = subprocess.run(
            ["psql", url.replace("postgresql+asyncpg", "postgresql"), "-Atc", "select count(*) from flow_run"],
            capture_output=True,
            text=True,
        )
        assert sessions.returncode == 0, f"Prefect's tables are not in database {database}: {sessions.stderr}"
        assert settings["server"]["services"]["task_run_recorder"]["batch_size"] == 200
        created = httpx.post(f"{api}/work_pools/", json={"name": "pg-pool", "type": "process"})
        assert created.status_code == 201, created.text
        assert httpx.get(f"{api}/work_pools/pg-pool").json()["name"] == "pg-pool"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
