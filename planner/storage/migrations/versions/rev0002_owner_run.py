"""Owners of offer sets and sessions; the platform's run id and later messages of a session.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("offer_sets") as batch:
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True, comment="who asked (None when auth is off)"))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True, comment="who asked (None when auth is off)"))
        batch.add_column(
            sa.Column("run_id", sa.String(200), nullable=True, comment="the platform's id of the run (e.g. a flow run)")
        )
        batch.add_column(
            sa.Column("messages", sa.JSON(), nullable=True, comment="message items added after the session was stored")
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("messages")
        batch.drop_column("run_id")
        batch.drop_column("owner")
    with op.batch_alter_table("offer_sets") as batch:
        batch.drop_column("owner")
