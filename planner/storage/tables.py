"""SQLAlchemy 2 tables of the broker: offer sets and their sessions.

Each row keeps the full wire document (``model_dump(mode="json", by_alias=True)``) next to the
columns that queries need: the phase, expiry and placement of a session are columns, so expiry,
compare-and-set and capacity counts run in SQL. ``phase`` and ``modified`` live only in the
columns once a session changes; the document keeps the values it was stored with.

The alembic migrations in ``planner/storage/migrations`` must create exactly these tables
(tests compare them with ``alembic.autogenerate.compare_metadata``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores text without an offset, so values are turned
    into UTC before they are written (string order is then time order) and read back as UTC.

    Raises
    ------
    ValueError
        When a naive datetime is written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; use a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


offer_sets = Table(
    "offer_sets",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("result", String(3), nullable=False),
    Column("created", UTCDateTime(), nullable=True),
    Column("document", JSON(), nullable=False, comment="OfferSetResponse without its offers"),
    Column("owner", String(200), nullable=True, comment="who asked (None when auth is off)"),
    Index(None, "created"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("offer_set_id", String(36), ForeignKey("offer_sets.uuid", ondelete="CASCADE"), nullable=False),
    Column("position", Integer(), nullable=False, comment="order of the offer in its offer set"),
    Column("phase", String(16), nullable=False),
    Column("expires", UTCDateTime(), nullable=True),
    Column("created", UTCDateTime(), nullable=True),
    Column("modified", UTCDateTime(), nullable=True),
    Column("platform", String(200), nullable=True),
    Column("work_pool", String(200), nullable=True),
    Column("cores", Integer(), nullable=True),
    Column("memory_gib", Float(), nullable=True),
    Column("document", JSON(), nullable=False, comment="ScheduledExecutionSession as first stored"),
    Column("owner", String(200), nullable=True, comment="who asked (None when auth is off)"),
    Column("run_id", String(200), nullable=True, comment="the platform's id of the run (e.g. a flow run)"),
    Column("messages", JSON(), nullable=True, comment="message items added after the session was stored"),
    Column(
        "holds_until",
        UTCDateTime(),
        nullable=True,
        comment="end of the offered slot (releasing included); no hold after it unless a run is tracked",
    ),
    Index(None, "offer_set_id", "position"),
    Index(None, "phase", "expires"),
    Index(None, "work_pool", "phase"),
    Index(None, "platform", "phase"),
)
