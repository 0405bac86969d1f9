"""Bank debits as one state machine: the journal of the bank's callbacks.

Adds ``bank_callbacks``: every (serial, status) a debit accepted, with the transition it made.
Existing debits get their recorded word (``bank_serial``) as one row; a bank credit found in
the payments whose serial is not the debit's own (the replay that credited again before this
revision) is kept as UNTRACKED, so reconciliation reports that debit as credited twice.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREDITS = "settlement IN ('CREDIT', 'LATE_SUCCESS')"


def upgrade() -> None:
    """Create the callback journal and fill it from the debits and bank payments."""
    op.create_table(
        "bank_callbacks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("debit_id", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "callback_at", wattbook.adapters.db._types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "received_at", wattbook.adapters.db._types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("settlement", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "status IN ('SUCCEEDED', 'INSUFFICIENT_FUNDS', 'CARD_CLOSED', 'REFUSED')",
            name=op.f("ck_bank_callbacks_status"),
        ),
        sa.CheckConstraint(
            "settlement IN ('CREDIT', 'RECORD_FAILURE', 'LATE_SUCCESS', 'REPEATED_FAILURE',"
            " 'UNTRACKED')",
            name=op.f("ck_bank_callbacks_settlement"),
        ),
        sa.CheckConstraint(
            "(status = 'SUCCEEDED') = (settlement IN ('CREDIT', 'LATE_SUCCESS', 'UNTRACKED'))",
            name=op.f("ck_bank_callbacks_settlement_follows_status"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_id"], ["bank_debits.debit_id"], name=op.f("fk_bank_callbacks_debit_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_callbacks")),
        sa.UniqueConstraint("serial", "status", name=op.f("uq_bank_callbacks_serial_status")),
    )
    with op.batch_alter_table("bank_callbacks", schema=None) as batch_op:
        batch_op.create_index("ix_bank_callbacks_debit_id", ["debit_id"], unique=False)
        batch_op.create_index(
            "uq_bank_callbacks_one_credit",
            ["debit_id"],
            unique=True,
            sqlite_where=sa.text(_CREDITS),
            postgresql_where=sa.text(_CREDITS),
        )
    op.execute(
        sa.text(
            "INSERT INTO bank_callbacks (serial, status, debit_id, amount_fen, callback_at,"
            " received_at, settlement)"
            " SELECT bank_serial, status, debit_id, amount_fen, settled_at, settled_at,"
            " CASE WHEN status <> 'SUCCEEDED' THEN 'RECORD_FAILURE'"
            " WHEN detail LIKE 'success after%' THEN 'LATE_SUCCESS' ELSE 'CREDIT' END"
            " FROM bank_debits WHERE bank_serial IS NOT NULL AND status <> 'REQUESTED'"
        )
    )
    op.execute(
        sa.text(
            "INSERT INTO bank_callbacks (serial, status, debit_id, amount_fen, callback_at,"
            " received_at, settlement)"
            " SELECT p.channel_reference, 'SUCCEEDED', d.debit_id, p.amount_fen, p.at, p.at,"
            " 'UNTRACKED'"
            " FROM payments p JOIN bank_debits d ON 'debit ' || d.debit_id = p.note"
            " WHERE p.channel = 'BANK_AUTO' AND p.kind = 'TOP_UP' AND NOT EXISTS ("
            "  SELECT 1 FROM bank_callbacks c"
            "  WHERE c.serial = p.channel_reference AND c.status = 'SUCCEEDED')"
        )
    )


def downgrade() -> None:
    """Drop the callback journal (the debits keep their last word, as before)."""
    with op.batch_alter_table("bank_callbacks", schema=None) as batch_op:
        batch_op.drop_index("uq_bank_callbacks_one_credit")
        batch_op.drop_index("ix_bank_callbacks_debit_id")
    op.drop_table("bank_callbacks")
