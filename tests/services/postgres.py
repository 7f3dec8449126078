"""A throw-away PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, on a free loopback port.

Use the session fixture ``postgres_url`` (``from tests.services.postgres import postgres_url`` in a
conftest or test module) in tests marked ``@pytest.mark.postgres``; it yields a
``postgresql+asyncpg://`` URL of an empty database, owned by the superuser, and stops and removes
the cluster at the end. ``create_database(postgres_url)`` makes a further empty database (one per
test keeps tests apart).

PostgreSQL refuses to run as root, so as root every server binary runs as Debian's ``postgres``
user; the data directory is a ``tempfile.mkdtemp`` dir (under ``$PGTEST_TMP`` when set) chowned to
it, because pytest's ``tmp_path`` is root-only. Nothing is written to /etc/postgresql and no service
is started. When the server binaries are missing and we are root, ``apt-get install postgresql``
runs first. When PostgreSQL cannot start the tests are skipped with the reason, except with
``CI=true``, where they fail.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from cirasa.services import free_port

logger = logging.getLogger(__name__)

APT_TIMEOUT_S = 600
DATABASE = "cirasa"


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL could not be installed or started here; the message says why."""


def _run(
    argv: list[str], *, user: pwd.struct_passwd | None = None, cwd: Path | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (as ``user`` when given; needs root) and return the completed process."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "PGTZ": "UTC"}
    if cwd is not None:
        env["HOME"] = str(cwd)
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PostgresUnavailableError(f"`{' '.join(argv)}` failed: {exc}") from exc


def find_bindir() -> Path | None:
    """``$PG_BINDIR``, else ``pg_config --bindir``, else the newest /usr/lib/postgresql/*/bin with initdb."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    if shutil.which("pg_config"):
        bindir = Path(_run(["pg_config", "--bindir"]).stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def ensure_installed() -> Path:
    """The server binaries' directory, installing Debian's ``postgresql`` package first if needed."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailableError("no PostgreSQL server binaries (initdb) and no apt-get as root to install them")
    logger.info("installing postgresql with apt-get")
    env_cmd = ["env", "DEBIAN_FRONTEND=noninteractive"]
    for argv in (
        ["apt-get", "update"],
        [*env_cmd, "apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
    ):
        done = _run(argv, timeout_s=APT_TIMEOUT_S)
        if done.returncode != 0:
            raise PostgresUnavailableError(
                f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()[-2000:]}"
            )
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailableError("apt-get installed postgresql but no initdb was found")
    return bindir


@dataclass
class PostgresCluster:
    """One cluster in its own temp dir; ``start()``, ``create_database()``, ``stop()``."""

    bindir: Path
    port: int = field(default_factory=free_port)
    superuser: str = "postgres"
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        root = os.geteuid() == 0
        try:
            self.owner = pwd.getpwnam("postgres") if root else pwd.getpwuid(os.geteuid())
        except KeyError as exc:
            raise PostgresUnavailableError("no `postgres` system user to run the server as") from exc
        self._run_as = self.owner if root else None
        parent = Path(os.environ.get("PGTEST_TMP", tempfile.gettempdir()))
        parent.mkdir(parents=True, exist_ok=True)
        self.base = Path(tempfile.mkdtemp(prefix="cirasa-pg-", dir=parent))
        self.data = self.base / "data"
        self.logfile = self.base / "server.log"

    def _server(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        done = _run([str(self.bindir / args[0]), *args[1:]], user=self._run_as, cwd=self.base, timeout_s=timeout_s)
        if done.returncode != 0:
            log = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise PostgresUnavailableError(f"{args[0]} exited {done.returncode}: {done.stdout}{done.stderr}{log}")
        return done

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresCluster:
        os.chown(self.base, self.owner.pw_uid, self.owner.pw_gid)
        os.chmod(self.base, 0o700)
        started = time.perf_counter()
        self._server(
            "initdb", "-D", str(self.data), "-U", self.superuser, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
            "--no-sync",
        )  # fmt: skip
        self.timings["initdb_s"] = time.perf_counter() - started
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c max_connections=200"
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"  # tests only
        started = time.perf_counter()
        self._server("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "30", "-o", options, "start")
        self.timings["pg_ctl_start_s"] = time.perf_counter() - started
        return self

    def create_database(self, name: str) -> str:
        self._server("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                     "-U", self.superuser, "-d", "postgres", "-c", f'CREATE DATABASE "{name}"')  # fmt: skip
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            _run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                 user=self._run_as, cwd=self.base)  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)


async def create_database(url: str) -> str:
    """Create an empty database next to the one at ``url`` (a superuser's); return its URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of an empty database on a PostgreSQL cluster started once per test session."""
    cluster: PostgresCluster | None = None
    try:
        cluster = PostgresCluster(ensure_installed())
        cluster.start()
        url = cluster.create_database(DATABASE)
    except PostgresUnavailableError as exc:
        if cluster is not None:
            cluster.stop()
        message = f"real PostgreSQL not available: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    timings = ", ".join(f"{k} {v:.2f}" for k, v in cluster.timings.items())
    logger.info("PostgreSQL on 127.0.0.1:%d in %s (%s)", cluster.port, cluster.base, timings)
    try:
        yield url
    finally:
        cluster.stop()
