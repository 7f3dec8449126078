"""The local service stack for tests: a real Prefect server (SQLite in a temporary home), one
process worker per work pool, and the broker as a real uvicorn process, all on loopback ports
picked at random. Started once per test session; stopped at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cirasa import services
from cirasa.services import free_port

BROKER_TOML = """
[[platforms]]
name = "local"
kind = "prefect-pool"
work_pool = "cirasa-local"
cores = 2
memory_gib = 4

[[platforms]]
name = "slurm"
kind = "slurm"
work_pool = "cirasa-slurm"
partition = "debug"
"""


def unavailable(reason: str) -> None:
    """Skip, except in CI where a missing service is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.ServiceConfig]:
    home: Path = tmp_path_factory.mktemp("cirasa-home")
    config = services.ServiceConfig(home=home, prefect_port=free_port(), broker_port=free_port())
    saved = dict(os.environ)
    # Declare the local pool's size so offers do not depend on the machine running the tests.
    broker_config = home / "broker.toml"
    broker_config.write_text(BROKER_TOML)
    os.environ["CIRASA_BROKER_CONFIG_FILE"] = str(broker_config)
    try:
        services.up(config, with_slurm=False)
    except (TimeoutError, RuntimeError, OSError) as exc:
        services.down(config, with_slurm=False)
        unavailable(f"local Prefect stack did not start: {exc}")
    config.apply()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    try:
        with temporary_settings(updates={PREFECT_API_URL: config.prefect_api_url}):
            yield config
    finally:
        services.down(config, with_slurm=False)
        os.environ.clear()
        os.environ.update(saved)
