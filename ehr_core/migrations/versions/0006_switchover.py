"""switchover: a planned switchover's announcement, so a standby holds writes briefly

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 03:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign keys and no PHI: region names and times only. The EHR reads the newest
    # row by its primary key (one index lookup), so no other index is needed.
    op.create_table(
        "switchover",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_region", sa.String(length=64), nullable=False),
        sa.Column("target_region", sa.String(length=64), nullable=False),
        # timestamptz on PostgreSQL: written and read with the database servers' clocks.
        sa.Column("hold_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_switchover")),
    )


def downgrade() -> None:
    op.drop_table("switchover")
