"""The real caesar-rest app served over HTTP, its job manager ours (Prefect), its MongoDB mongomock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cirasa import services
from cirasa.jobmanager import PrefectJobManager, install_as_slurm_manager
from tests.caesar_rest.shim import caesar_rest_dir, install

SOURCE = caesar_rest_dir()
if SOURCE is not None:
    install(SOURCE)
    install_as_slurm_manager()  # as an operator's sitecustomize does: caesar-rest builds our manager itself


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


def serve(tmp: Path, api_url: str) -> tuple[Any, Any, threading.Thread, PrefectJobManager]:
    """caesar-rest's app as ``run_app.py --job_scheduler slurm`` builds it, on a free loopback port."""
    import caesar_rest
    import caesar_rest.job_monitor
    import caesar_rest.job_route
    from caesar_rest import mongo
    from caesar_rest.app import create_app
    from caesar_rest.config import Config
    from caesar_rest.job_configurator import JobConfigurator
    from werkzeug.serving import make_server

    manager = caesar_rest.jobmgr_slurm
    assert isinstance(manager, PrefectJobManager), "caesar-rest did not build our manager as its Slurm one"
    assert caesar_rest.job_route.jobmgr_slurm is manager and caesar_rest.job_monitor.jobmgr_slurm is manager
    manager.api_url = api_url  # what PREFECT_API_URL says in caesar-rest's environment
    config = Config()
    config.UPLOAD_FOLDER, config.JOB_DIR, config.JOB_SCHEDULER = str(tmp / "data"), str(tmp / "jobs"), "slurm"
    app = create_app(config, JobConfigurator())
    mongo.init_app(app)
    manager.max_cores = 2  # run_app.py: SLURM_MAX_CORE_PER_JOB
    assert manager.initialize() == 0, "caesar-rest would exit: the Prefect deployment is not there"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, mongo.db, thread, manager


@pytest.fixture(scope="module")
def caesar(stack: services.ServiceConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaesarRest]:
    if SOURCE is None:
        pytest.skip("caesar-rest's source is not beside this checkout (shared/upstream/caesar-rest or CAESAR_REST_DIR)")
    tmp = tmp_path_factory.mktemp("caesar-rest")
    server, db, thread, manager = serve(tmp, stack.prefect_api_url)
    try:
        yield CaesarRest(f"http://127.0.0.1:{server.server_port}/caesar/api/v1.0", db, tmp / "jobs", manager)
    finally:
        server.shutdown()
        thread.join(timeout=10)
