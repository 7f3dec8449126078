"""When an accepted session's slot ends: capacity of sessions the broker does not run itself is
held until then, not forever.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column(
                "holds_until",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="end of the offered slot (releasing included); no hold after it unless a run is tracked",
            )
        )
    # Sessions accepted before this revision, whose runs nobody tracks, stop holding capacity now.
    op.execute(
        "UPDATE sessions SET holds_until = modified "
        "WHERE run_id IS NULL AND phase <> 'OFFERED' AND holds_until IS NULL AND modified IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("holds_until")
