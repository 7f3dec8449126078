"""Engines and schema migrations for the broker's database (SQLite via aiosqlite, PostgreSQL via asyncpg).

``make_engine(url)`` builds the async engine, ``upgrade(url)`` brings a database to the newest
alembic revision, ``default_url(home)`` names the SQLite file used when nothing else is configured.

SQLite engines get one pooled connection (coroutines queue for it instead of fighting over the file
lock), WAL journalling, foreign keys, a 30 s busy time-out for other processes, and ``BEGIN IMMEDIATE``
for every transaction, so a transaction never has to upgrade a read lock to a write lock (the case
where SQLite answers "database is locked" at once, without waiting).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from planner.storage.repository import StorageError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


def default_url(home: Path) -> str:
    """The SQLite database ``<home>/broker.sqlite3`` as an aiosqlite URL."""
    return f"sqlite+aiosqlite:///{(home / 'broker.sqlite3').resolve()}"


def build_url(url: str) -> URL:
    """``url`` with its async driver: plain ``sqlite://`` and ``postgresql://`` get aiosqlite and asyncpg.

    Raises
    ------
    ValueError
        When ``url`` is not a SQLite or PostgreSQL URL.
    """
    parsed = make_url(url)
    drivername = DRIVERS.get(parsed.drivername, parsed.drivername)
    if drivername not in DRIVERS.values():
        raise ValueError(f"unsupported database URL {parsed!r}; use sqlite+aiosqlite:/// or postgresql+asyncpg://")
    return parsed.set(drivername=drivername)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (SQLite or PostgreSQL); ``kwargs`` go to ``create_async_engine``.

    Raises
    ------
    ValueError
        When ``url`` is not a SQLite or PostgreSQL URL.
    """
    parsed = build_url(url)
    if parsed.get_backend_name() != "sqlite":
        options: dict[str, Any] = {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}
        return create_async_engine(parsed, **(options | kwargs))
    memory = parsed.database in (None, "", ":memory:")
    options = {} if memory else {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60}
    engine = create_async_engine(parsed, **(options | kwargs))
    _configure_sqlite(engine, wal=not memory)
    return engine


def _configure_sqlite(engine: AsyncEngine, *, wal: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if wal:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str | None = None) -> Config:
    """The alembic configuration of these migrations, usable from any working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", build_url(url).render_as_string(hide_password=False))
    return config


async def _upgrade(url: str, revision: str) -> None:
    config = alembic_config(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_upgrade, config, revision)
    finally:
        await engine.dispose()


def _run_upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (default: the newest); create it if missing.

    Blocking. Safe to call with or without a running event loop (with one, the migration runs in a
    worker thread and its own loop; from async code prefer ``await asyncio.to_thread(upgrade, url)``).

    Raises
    ------
    ValueError
        When ``url`` is not a SQLite or PostgreSQL URL.
    StorageError
        When the database cannot be reached or migrated.
    """
    parsed = build_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    try:
        if running:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="alembic") as pool:
                pool.submit(lambda: asyncio.run(_upgrade(url, revision))).result()
        else:
            asyncio.run(_upgrade(url, revision))
    except (SQLAlchemyError, OSError) as exc:
        target = parsed.render_as_string(hide_password=True)
        raise StorageError(f"cannot migrate {target} to {revision}: {type(exc).__name__}: {exc}") from exc
    logger.info("database %s is at revision %s", parsed.render_as_string(hide_password=True), revision)
