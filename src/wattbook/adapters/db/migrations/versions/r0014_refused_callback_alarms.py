"""System alarms for the bank: a refused signed callback, a debit left unanswered.

Widens the ``kind`` check of ``system_alarms`` with BANK_CALLBACK_REFUSED and
BANK_DEBIT_UNANSWERED. On SQLite the table is
copied (a check constraint cannot be altered in place); ``copy_from`` names every constraint so
the copy keeps them.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = wattbook.adapters.db._types.UtcDateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OLD = "kind IN ('HOLIDAY_SCHEDULE_UNCONFIRMED', 'BUS_UNREACHABLE')"
_NEW = (
    "kind IN ('HOLIDAY_SCHEDULE_UNCONFIRMED', 'BUS_UNREACHABLE', 'BANK_CALLBACK_REFUSED',"
    " 'BANK_DEBIT_UNANSWERED')"
)


def _system_alarms(kind_check: str) -> sa.Table:
    """Return system_alarms as it stands, so SQLite's table copy keeps every constraint."""
    return sa.Table(
        "system_alarms",
        sa.MetaData(),
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", _UTC, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(kind_check, name="ck_system_alarms_kind"),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at", name="ck_system_alarms_ends_after_start"
        ),
        sa.CheckConstraint(
            "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)",
            name="ck_system_alarms_acknowledged_by_whom",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_system_alarms"),
        sa.UniqueConstraint(
            "kind", "subject", "started_at", name="uq_system_alarms_kind_subject_started_at"
        ),
        sa.Index("ix_system_alarms_ended_at", "ended_at"),
    )


def upgrade() -> None:
    """Allow the new kind."""
    with op.batch_alter_table("system_alarms", copy_from=_system_alarms(_OLD)) as batch:
        batch.drop_constraint(op.f("ck_system_alarms_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_system_alarms_kind"), _NEW)


def downgrade() -> None:
    """Drop the bank alarms and their kinds."""
    op.execute(
        "DELETE FROM system_alarms WHERE kind IN ('BANK_CALLBACK_REFUSED', 'BANK_DEBIT_UNANSWERED')"
    )
    with op.batch_alter_table("system_alarms", copy_from=_system_alarms(_NEW)) as batch:
        batch.drop_constraint(op.f("ck_system_alarms_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_system_alarms_kind"), _OLD)
