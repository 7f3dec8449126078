"""Offer sets and sessions.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "offer_sets",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("result", sa.String(3), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False, comment="OfferSetResponse without its offers"),
        sa.PrimaryKeyConstraint("uuid", name="pk_offer_sets"),
    )
    op.create_index("ix_offer_sets_created", "offer_sets", ["created"])
    op.create_table(
        "sessions",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("offer_set_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, comment="order of the offer in its offer set"),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=True),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=True),
        sa.Column("platform", sa.String(200), nullable=True),
        sa.Column("work_pool", sa.String(200), nullable=True),
        sa.Column("cores", sa.Integer(), nullable=True),
        sa.Column("memory_gib", sa.Float(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False, comment="ScheduledExecutionSession as first stored"),
        sa.ForeignKeyConstraint(
            ["offer_set_id"], ["offer_sets.uuid"], name="fk_sessions_offer_set_id_offer_sets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("uuid", name="pk_sessions"),
    )
    op.create_index("ix_sessions_offer_set_id_position", "sessions", ["offer_set_id", "position"])
    op.create_index("ix_sessions_phase_expires", "sessions", ["phase", "expires"])
    op.create_index("ix_sessions_work_pool_phase", "sessions", ["work_pool", "phase"])
    op.create_index("ix_sessions_platform_phase", "sessions", ["platform", "phase"])


def downgrade() -> None:
    op.drop_table("sessions")
    op.drop_table("offer_sets")
