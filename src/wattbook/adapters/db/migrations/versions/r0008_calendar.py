"""System alarms; the holiday calendar's history.

Creates ``system_alarms``: alarms about the system rather than one meter (the holiday schedule
of a year not confirmed, a bus that cannot be reached), open from ``started_at`` until
``ended_at``, with their acknowledgement.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = wattbook.adapters.db._types.UtcDateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the system alarms table."""
    op.create_table(
        "system_alarms",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", _UTC, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "kind IN ('HOLIDAY_SCHEDULE_UNCONFIRMED', 'BUS_UNREACHABLE')",
            name=op.f("ck_system_alarms_kind"),
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_system_alarms_ends_after_start"),
        ),
        sa.CheckConstraint(
            "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)",
            name=op.f("ck_system_alarms_acknowledged_by_whom"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_alarms")),
        sa.UniqueConstraint(
            "kind", "subject", "started_at", name=op.f("uq_system_alarms_kind_subject_started_at")
        ),
    )
    op.create_index("ix_system_alarms_ended_at", "system_alarms", ["ended_at"], unique=False)


def downgrade() -> None:
    """Drop the system alarms table."""
    op.drop_index("ix_system_alarms_ended_at", table_name="system_alarms")
    op.drop_table("system_alarms")
