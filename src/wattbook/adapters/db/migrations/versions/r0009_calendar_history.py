"""The holiday calendar: who changed each day, and which years are confirmed.

``calendar_overrides`` gains ``origin`` (SET or IMPORT), ``changed_by`` and ``changed_at``
(existing rows: SET, 'migration', now); ``calendar_changes`` is the append-only history of every
change; ``calendar_years`` marks the years whose official schedule the centre imported. A year
that has overrides before this upgrade counts as confirmed (that was what an override meant),
so the calendar answers as before for existing data.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = wattbook.adapters.db._types.UtcDateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MIGRATED_BY = "migration"


def upgrade() -> None:
    """Record who changed the calendar; confirm the years the centre entered before."""
    # A migration runs outside any use case: there is no Clock port to ask.
    migrated_at = datetime.now(UTC)  # noqa: TID251
    with op.batch_alter_table("calendar_overrides", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("changed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("changed_at", _UTC, nullable=True))
    overrides = sa.table(
        "calendar_overrides",
        sa.column("day", sa.Date()),
        sa.column("origin", sa.String()),
        sa.column("changed_by", sa.String()),
        sa.column("changed_at", _UTC),
    )
    op.execute(
        overrides.update().values(origin="SET", changed_by=_MIGRATED_BY, changed_at=migrated_at)
    )
    with op.batch_alter_table("calendar_overrides", schema=None) as batch_op:
        batch_op.alter_column("origin", existing_type=sa.String(length=8), nullable=False)
        batch_op.alter_column("changed_by", existing_type=sa.String(length=100), nullable=False)
        batch_op.alter_column("changed_at", existing_type=_UTC, nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_calendar_overrides_origin"), "origin IN ('SET', 'IMPORT')"
        )

    op.create_table(
        "calendar_changes",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("working_before", sa.Boolean(), nullable=True),
        sa.Column("working_after", sa.Boolean(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", _UTC, nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.CheckConstraint("source IN ('SET', 'IMPORT')", name=op.f("ck_calendar_changes_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_changes")),
    )
    op.create_index("ix_calendar_changes_day", "calendar_changes", ["day"], unique=False)
    years = op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("confirmed_by", sa.String(length=100), nullable=False),
        sa.Column("confirmed_at", _UTC, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_years")),
    )
    assert years is not None  # noqa: S101 - create_table returns the table it made
    entered = sorted({day.year for (day,) in op.get_bind().execute(sa.select(overrides.c.day))})
    if entered:
        op.bulk_insert(
            years,
            [
                {
                    "year": year,
                    "confirmed_by": _MIGRATED_BY,
                    "confirmed_at": migrated_at,
                    "note": "entered before the calendar history (revision 0009)",
                }
                for year in entered
            ],
        )


def downgrade() -> None:
    """Drop the history and the confirmed years; the overrides keep their days."""
    op.drop_table("calendar_years")
    op.drop_index("ix_calendar_changes_day", table_name="calendar_changes")
    op.drop_table("calendar_changes")
    with op.batch_alter_table("calendar_overrides", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_calendar_overrides_origin"), type_="check")
        batch_op.drop_column("changed_at")
        batch_op.drop_column("changed_by")
        batch_op.drop_column("origin")
