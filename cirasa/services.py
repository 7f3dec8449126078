"""Local services for the demo and the tests: Prefect server, one worker per work pool, the broker,
and (when it can be started) the real local Slurm.

Everything lives under one project-local home (``var/`` by default, ``CIRASA_HOME`` to move it):
the Prefect database (SQLite), logs and PID files. Every child gets ``PREFECT_API_URL`` set, the
ephemeral server disabled and analytics off. Processes run in their own process groups so that
``down`` (or Ctrl-C in the demo) leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
POOLS = ("cirasa-local", "cirasa-slurm")
SLURM_SCRIPTS = ROOT / "infra" / "slurm"


@dataclass(frozen=True)
class ServiceConfig:
    home: Path
    prefect_port: int
    broker_port: int
    host: str = "127.0.0.1"

    @classmethod
    def from_env(cls) -> ServiceConfig:
        return cls(
            home=Path(os.environ.get("CIRASA_HOME", ROOT / "var")).resolve(),
            prefect_port=int(os.environ.get("CIRASA_PREFECT_PORT", "4310")),
            broker_port=int(os.environ.get("CIRASA_BROKER_PORT", "8790")),
        )

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def prefect_ui_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}"

    @property
    def broker_url(self) -> str:
        return f"http://{self.host}:{self.broker_port}"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    def env(self) -> dict[str, str]:
        """The environment every service and client of this home runs with."""
        env = dict(os.environ)
        env.update(
            {
                "PREFECT_HOME": str(self.home / "prefect"),
                "PREFECT_API_URL": self.prefect_api_url,
                "PREFECT_SERVER_API_HOST": self.host,
                "PREFECT_SERVER_API_PORT": str(self.prefect_port),
                "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
                "DO_NOT_TRACK": "1",
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
                "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
                "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "200",
                "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
                "PREFECT_LOGGING_EXTRA_LOGGERS": "flows,science",
                "CIRASA_ROOT": str(ROOT),
                "CIRASA_PYTHON": sys.executable,  # flow-run processes: `<python> -m prefect.engine`
                "CIRASA_SURVEY_PATTERN": os.environ.get("CIRASA_SURVEY_PATTERN", str(self.home / "survey" / "*.fits")),
                "CIRASA_SURVEY_OUTPUT": os.environ.get("CIRASA_SURVEY_OUTPUT", str(self.home / "survey-output")),
                "CIRASA_SURVEY_CRON": os.environ.get("CIRASA_SURVEY_CRON", "0 2 * * *"),
                "CIRASA_BROKER_PREFECT_API_URL": self.prefect_api_url,
                "CIRASA_BROKER_DATABASE_URL": f"sqlite+aiosqlite:///{self.home / 'broker.sqlite3'}",
                "CIRASA_FLOWS_LOG_DIRECTORY": str(self.log_dir / "dask"),
                "CIRASA_FLOWS_BROKER_URL": self.broker_url,
            }
        )
        return env

    def apply(self) -> None:
        """Export this home's environment into the current process (for in-process clients)."""
        os.environ.update({k: v for k, v in self.env().items() if k.startswith(("PREFECT_", "CIRASA_", "DO_NOT"))})


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _pid_file(config: ServiceConfig, name: str) -> Path:
    return config.run_dir / f"{name}.pid"


def read_pid(config: ServiceConfig, name: str) -> int | None:
    try:
        pid = int(_pid_file(config, name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (for services started by tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def start_process(config: ServiceConfig, name: str, argv: list[str], port: int | None = None) -> int:
    """Start ``argv`` in its own process group, logging to ``logs/<name>.log``; idempotent by PID file.

    Refuses to start a server whose port another process already holds (it would talk to a stranger).
    """
    existing = read_pid(config, name)
    if existing:
        return existing
    if port is not None and port_in_use(config.host, port):
        raise RuntimeError(
            f"{name}: port {port} on {config.host} is in use by a process not started from {config.home}; "
            f"stop it, or choose another port (CIRASA_PREFECT_PORT / CIRASA_BROKER_PORT)"
        )
    config.run_dir.mkdir(parents=True, exist_ok=True)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    with (config.log_dir / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            argv,
            env=config.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
        )
    _pid_file(config, name).write_text(str(process.pid))
    return process.pid


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def stop_process(config: ServiceConfig, name: str, timeout_s: float = 10.0) -> bool:
    """SIGTERM the process group, SIGKILL it after ``timeout_s``; True if something was stopped."""
    pid = read_pid(config, name)
    _pid_file(config, name).unlink(missing_ok=True)
    if pid is None:
        return False
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.1)
        if not alive(pid):
            break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # leave no grandchild (flow-run processes) behind
    return True


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s")


def wait_healthy(url: str, process: subprocess.Popen[Any] | None = None, timeout_s: float = 60.0) -> None:
    """Wait until ``GET url`` answers 200.

    Raises
    ------
    RuntimeError
        When ``process`` (the server being waited for) exits first.
    TimeoutError
        When ``timeout_s`` passes.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with status {process.returncode}")
        if http_ok(url):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s:g} s")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def slurm_up() -> bool:
    return subprocess.run([str(SLURM_SCRIPTS / "status.sh")], capture_output=True).returncode == 0


def start_slurm() -> tuple[bool, str]:
    """Start the local Slurm if this machine can (root, apt); never fatal here."""
    result = subprocess.run([str(SLURM_SCRIPTS / "start.sh")], capture_output=True, text=True)
    message = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode == 0, message[-1] if message else ""


def ensure_pools(config: ServiceConfig) -> None:
    """Create the work pools (type process) if missing; re-running changes nothing."""
    with httpx.Client(base_url=config.prefect_api_url, timeout=10) as client:
        for pool in POOLS:
            if client.get(f"/work_pools/{pool}").status_code == 404:
                response = client.post("/work_pools/", json={"name": pool, "type": "process"})
                if response.status_code not in (201, 409):
                    response.raise_for_status()


def workers_online(config: ServiceConfig, pool: str) -> int:
    try:
        response = httpx.post(f"{config.prefect_api_url}/work_pools/{pool}/workers/filter", json={}, timeout=5)
    except httpx.HTTPError:
        return 0
    if response.status_code != 200:
        return 0
    return sum(1 for worker in response.json() if worker.get("status") == "ONLINE")


def deploy(config: ServiceConfig) -> None:
    """Create or update every deployment of ``deployments/prefect.yaml`` (idempotent)."""
    ensure_pools(config)
    argv = [_bin("prefect"), "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"]
    result = subprocess.run(argv, env=config.env(), cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"prefect deploy failed ({result.returncode}): {result.stdout[-2000:]}{result.stderr[-2000:]}"
        )


def up(config: ServiceConfig, *, with_slurm: bool = True, workers: tuple[str, ...] = POOLS) -> dict[str, str]:
    """Start everything that is not running yet; return a one-line status per service."""
    status: dict[str, str] = {}
    if with_slurm:
        was_up = slurm_up()
        ok, message = start_slurm()
        status["slurm"] = message if ok else f"not started: {message}"
        if ok and not was_up:  # `down` stops Slurm only when `up` started it
            config.run_dir.mkdir(parents=True, exist_ok=True)
            (config.run_dir / "slurm.started").write_text(json.dumps({"started_by": "cirasa"}))
    start_process(
        config, "prefect-server", [_bin("prefect"), "server", "start", "--analytics-off"], port=config.prefect_port
    )
    wait_healthy(f"{config.prefect_api_url}/health", timeout_s=90)
    status["prefect-server"] = config.prefect_ui_url
    deploy(config)
    for pool in workers:
        start_process(
            config,
            f"worker-{pool}",
            [_bin("prefect"), "worker", "start", "--pool", pool, "--type", "process", "--name", f"{pool}-worker"],
        )
    for pool in workers:
        wait_until(lambda pool=pool: workers_online(config, pool) > 0, 60, f"worker of work pool {pool}")  # type: ignore[misc]
        status[f"worker-{pool}"] = "online"
    start_process(
        config,
        "broker",
        [_bin("cirasa"), "broker", "serve", "--host", config.host, "--port", str(config.broker_port)],
        port=config.broker_port,
    )
    wait_healthy(f"{config.broker_url}/healthz", timeout_s=30)
    status["broker"] = config.broker_url
    return status


def down(config: ServiceConfig, *, with_slurm: bool = True) -> list[str]:
    """Stop what ``up`` started (Slurm only if ``up`` started it); return the names stopped."""
    stopped = []
    names = ["broker", *(f"worker-{p}" for p in POOLS), "prefect-server"]
    for name in names:
        if stop_process(config, name):
            stopped.append(name)
    marker = config.run_dir / "slurm.started"
    if with_slurm and marker.exists():
        subprocess.run([str(SLURM_SCRIPTS / "stop.sh")], capture_output=True)
        marker.unlink(missing_ok=True)
        stopped.append("slurm")
    return stopped


def status(config: ServiceConfig) -> dict[str, str]:
    names = ["prefect-server", *(f"worker-{p}" for p in POOLS), "broker"]
    result = {name: f"running (pid {pid})" if (pid := read_pid(config, name)) else "stopped" for name in names}
    result["slurm"] = "up" if slurm_up() else "down"
    return result
