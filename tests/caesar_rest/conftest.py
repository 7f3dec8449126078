"""The real caesar-rest app served over HTTP, its job manager ours (Prefect), its MongoDB mongomock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cirasa import services
from cirasa.jobmanager import PrefectJobManager
from tests.caesar_rest.shim import caesar_rest_dir, install

SOURCE = caesar_rest_dir()
if SOURCE is not None:
    install(SOURCE)


@dataclass
class CaesarRest:
    """A served caesar-rest: its URL (API root), database, job directory and manager."""

    url: str
    db: Any
    job_dir: Path
    manager: PrefectJobManager

    def monitor(self) -> None:
        """One round of caesar-rest's job monitor (what ``run_jobmonitor.py`` does every period)."""
        import caesar_rest.job_monitor

        caesar_rest.job_monitor.monitor_jobs(self.db)


def serve(tmp: Path, manager: PrefectJobManager) -> tuple[Any, Any, threading.Thread]:
    """caesar-rest's app as ``run_app.py --job_scheduler slurm`` builds it, on a free loopback port."""
    import caesar_rest
    import caesar_rest.job_monitor
    import caesar_rest.job_route
    from caesar_rest import mongo
    from caesar_rest.app import create_app
    from caesar_rest.config import Config
    from caesar_rest.job_configurator import JobConfigurator
    from werkzeug.serving import make_server

    for module in (caesar_rest, caesar_rest.job_route, caesar_rest.job_monitor):
        module.jobmgr_slurm = manager  # type: ignore[attr-defined]
    config = Config()
    config.UPLOAD_FOLDER, config.JOB_DIR, config.JOB_SCHEDULER = str(tmp / "data"), str(tmp / "jobs"), "slurm"
    config.SLURM_MAX_CORE_PER_JOB = 2
    app = create_app(config, JobConfigurator())
    mongo.init_app(app)
    assert manager.initialize() == 0, "caesar-rest would exit: the Prefect deployment is not there"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, mongo.db, thread


@pytest.fixture(scope="module")
def caesar(stack: services.ServiceConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaesarRest]:
    if SOURCE is None:
        pytest.skip("caesar-rest's source is not beside this checkout (shared/upstream/caesar-rest or CAESAR_REST_DIR)")
    tmp = tmp_path_factory.mktemp("caesar-rest")
    manager = PrefectJobManager(api_url=stack.prefect_api_url)
    server, db, thread = serve(tmp, manager)
    try:
        yield CaesarRest(f"http://127.0.0.1:{server.server_port}/caesar/api/v1.0", db, tmp / "jobs", manager)
    finally:
        server.shutdown()
        thread.join(timeout=10)
