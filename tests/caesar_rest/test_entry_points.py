"""caesar-rest's own entry points with our manager, as an operator runs them (README): ``apps/run_app.py``
(executed as uwsgi loads it) and ``apps/run_jobmonitor.py``'s loop, both with ``--job_scheduler slurm``; caesar-rest
builds our manager itself (:func:`cirasa.jobmanager.install_as_slurm_manager`, done by the conftest as an
operator's sitecustomize does) and they configure and initialize it."""

from __future__ import annotations

import ctypes
import runpy
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from cirasa import services
from cirasa.jobmanager import PrefectJobManager
from tests.caesar_rest.conftest import SOURCE
from tests.caesar_rest.test_caesar_rest import sky, submit, upload
from tests.services.slurm import SlurmInfo

pytestmark = [pytest.mark.prefect, pytest.mark.slurm]


def stop(thread: threading.Thread) -> None:
    """End run_jobmonitor's loop as ctrl-c does (it returns on KeyboardInterrupt)."""
    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(KeyboardInterrupt))
    thread.join(timeout=15)


def test_run_app_and_run_jobmonitor_run_a_job_on_prefect(
    stack: services.ServiceConfig, slurm: SlurmInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if SOURCE is None:
        pytest.skip("caesar-rest's source is not beside this checkout (shared/upstream/caesar-rest or CAESAR_REST_DIR)")
    from werkzeug.serving import make_server

    data, jobs = tmp_path / "data", tmp_path / "jobs"
    args = ["--job_scheduler", "slurm", "--datadir", str(data), "--jobdir", str(jobs)]
    # the workers see caesar-rest's folders where caesar-rest does (one machine): its "Slurm mounts" are these
    args += ["--slurm_datadir", str(data), "--slurm_jobdir", str(jobs)]
    monkeypatch.setattr(sys, "argv", ["run_app.py", *args])
    namespace = runpy.run_path(str(SOURCE / "apps" / "run_app.py"), run_name="run_app")  # as uwsgi loads it
    import caesar_rest

    manager = caesar_rest.jobmgr_slurm
    assert isinstance(manager, PrefectJobManager)
    assert manager.api_url == stack.prefect_api_url.rstrip("/"), "PREFECT_API_URL of caesar-rest's environment"
    assert manager.max_cores == 4 and manager.app_jobdir == str(jobs), "run_app.py configured it (SLURM_* config)"

    monkeypatch.setattr(sys, "argv", ["run_jobmonitor.py", "--job_scheduler", "slurm", "--job_monitoring_period", "1"])
    monitor = runpy.run_path(str(SOURCE / "apps" / "run_jobmonitor.py"), run_name="run_jobmonitor")
    loop = threading.Thread(target=monitor["main"], daemon=True)
    server = make_server("127.0.0.1", 0, namespace["app"], threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    loop.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/caesar/api/v1.0"
        with httpx.Client(base_url=url, timeout=30) as client:
            job = submit(client, upload(client, sky(tmp_path, "entry.fits", size=256)), {"seedthr": 6})
            deadline = time.monotonic() + 300
            while (state := client.get(f"/job/{job['job_id']}/status").json()["state"]) in ("PENDING", "RUNNING"):
                assert time.monotonic() < deadline, f"still {state} (logs in {stack.log_dir})"
                time.sleep(1.0)
            assert state == "SUCCESS", client.get(f"/job/{job['job_id']}/status").json()
            assert client.get(f"/job/{job['job_id']}/output-sources").status_code == 200
    finally:
        stop(loop)
        server.shutdown()
    assert not loop.is_alive(), "run_jobmonitor's loop did not stop"
