"""The broker's ingest: the HEADEND_SPOOLED alarm kind (ADR 20).

A head-end cut off from the broker keeps its collections in a local spool and, when it reaches
the broker again, says so; the ingest raises a HEADEND_SPOOLED system alarm for staff. Widens
the ``kind`` check of ``alarms``. On SQLite the table is copied (a check constraint cannot be
altered in place); ``copy_from`` names every constraint and index so the copy keeps them.

Exactly-once needs no new table: readings are unique by (installation, meter time), events by
(meter, kind, time), alarms by (kind, subject, start), and a relay outcome is recorded only
while its command is pending at the attempt it answers.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = wattbook.adapters.db._types.UtcDateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Every kind up to this revision, frozen here: later kinds come with later revisions.
_BEFORE = (
    "OVER_CURRENT_TRIP",
    "METER_COVER_OPENED",
    "TERMINAL_COVER_OPENED",
    "POWER_DOWN",
    "RELAY_STATE_MISMATCH",
    "RELAY_NOT_CONFIRMED",
    "NO_COMMUNICATION",
    "EVENT_RECORDS_LOST",
    "REGISTER_BACKWARDS",
    "IMPLAUSIBLE_JUMP",
    "TOU_MISMATCH",
    "LATE_READING_INCONSISTENT",
    "HOLIDAY_SCHEDULE_UNCONFIRMED",
    "BUS_UNREACHABLE",
    "BANK_CALLBACK_REFUSED",
    "BANK_DEBIT_UNANSWERED",
    "KIOSK_NOTE_RETURNED_CREDITED",
    "KIOSK_ACCEPTOR_FAULT",
)
_AFTER = (*_BEFORE, "HEADEND_SPOOLED")


def _in(values: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _alarms(kinds: tuple[str, ...]) -> sa.Table:
    """Return ``alarms`` as it stands, so SQLite's table copy keeps every constraint."""
    return sa.Table(
        "alarms",
        sa.MetaData(),
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=12), nullable=True),
        sa.Column("installation_id", sa.Integer(), nullable=True),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("raised_at", _UTC, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", _UTC, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(_in(kinds), name="ck_alarms_kind"),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at", name="ck_alarms_ends_after_start"
        ),
        sa.CheckConstraint(
            "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)",
            name="ck_alarms_acknowledged_by_whom",
        ),
        sa.CheckConstraint(
            "meter_number IS NULL OR meter_number = subject", name="ck_alarms_meter_is_subject"
        ),
        sa.ForeignKeyConstraint(
            ["installation_id"], ["meter_installations.id"], name="fk_alarms_installation_id"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
        sa.UniqueConstraint(
            "kind", "subject", "started_at", name="uq_alarms_kind_subject_started_at"
        ),
        sa.Index("ix_alarms_ended_at_subject", "ended_at", "subject"),
        sa.Index("ix_alarms_meter_number_started_at", "meter_number", "started_at"),
    )


def upgrade() -> None:
    """Allow the HEADEND_SPOOLED kind."""
    with op.batch_alter_table("alarms", copy_from=_alarms(_BEFORE)) as batch:
        batch.drop_constraint(op.f("ck_alarms_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_alarms_kind"), _in(_AFTER))


def downgrade() -> None:
    """Drop the HEADEND_SPOOLED alarms and their kind."""
    op.execute("DELETE FROM alarms WHERE kind = 'HEADEND_SPOOLED'")
    with op.batch_alter_table("alarms", copy_from=_alarms(_AFTER)) as batch:
        batch.drop_constraint(op.f("ck_alarms_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_alarms_kind"), _in(_BEFORE))
