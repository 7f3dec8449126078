"""Alembic environment of the broker's database.

``planner.storage.database.upgrade`` hands over an open connection (``config.attributes["connection"]``).
Run by the ``alembic`` command (``alembic -c planner/storage/alembic.ini ...``), it reads the URL
from ``-x url=...``, else from ``CIRASA_BROKER_DATABASE_URL``, else from ``sqlalchemy.url``, and
connects with the async engine of ``planner.storage.database.make_engine``.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from planner.storage.database import build_url, make_engine
from planner.storage.tables import metadata

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("CIRASA_BROKER_DATABASE_URL")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set CIRASA_BROKER_DATABASE_URL")
    return url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = make_engine(_url())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_migrations)
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=build_url(_url()),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif isinstance(shared := config.attributes.get("connection"), Connection):
    run_migrations(shared)
else:
    asyncio.run(run_async_migrations())
