"""SMS: outbox delivery state, delivery records and the SMS policy (N1, N2).

Adds to ``sms_outbox`` (additive, nullable or defaulted columns): the top-up amount, a
de-duplication key (unique), attempts, next attempt time, the worker's claim, parts sent with
their references, the frozen text and the last error. Creates ``sms_deliveries`` (one row per
attempt) and ``sms_policies``, seeded with: 10 messages a phone a local day, 5 attempts, back-off
from 60 s doubling to 30 min, resend a part whose outcome a crash left in doubt, zh-CN.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED_FROM = dt.date(2000, 1, 1)
_UTC = wattbook.adapters.db._types.UtcDateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add the outbox's delivery columns, create the delivery records and the policy."""
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount_fen", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("dedup_key", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_attempt_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("claimed_at", _UTC, nullable=True))
        batch_op.add_column(
            sa.Column("parts_sent", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("message_refs", sa.String(length=400), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=200), nullable=True))
        batch_op.create_index("uq_sms_outbox_dedup_key", ["dedup_key"], unique=True)
        batch_op.create_index("ix_sms_outbox_phone_done_at", ["phone", "done_at"], unique=False)

    op.create_table(
        "sms_deliveries",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("outbox_id", _BIG_ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("message_refs", sa.String(length=400), server_default="", nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.CheckConstraint("attempt >= 1", name=op.f("ck_sms_deliveries_attempt_positive")),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('SENT', 'RETRY', 'FAILED', 'INTERRUPTED')",
            name=op.f("ck_sms_deliveries_outcome"),
        ),
        sa.CheckConstraint(
            "(outcome IS NULL) = (finished_at IS NULL)",
            name=op.f("ck_sms_deliveries_finished_iff_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["sms_outbox.id"], name=op.f("fk_sms_deliveries_outbox_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_deliveries")),
        sa.UniqueConstraint(
            "outbox_id", "attempt", name=op.f("uq_sms_deliveries_outbox_id_attempt")
        ),
    )
    policies = op.create_table(
        "sms_policies",
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("daily_cap_per_phone", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("first_retry_seconds", sa.Integer(), nullable=False),
        sa.Column("max_retry_seconds", sa.Integer(), nullable=False),
        sa.Column("in_doubt", sa.String(length=8), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.CheckConstraint("daily_cap_per_phone >= 1", name=op.f("ck_sms_policies_cap_positive")),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_sms_policies_attempts_positive")),
        sa.CheckConstraint(
            "first_retry_seconds > 0 AND max_retry_seconds >= first_retry_seconds",
            name=op.f("ck_sms_policies_back_off"),
        ),
        sa.CheckConstraint("in_doubt IN ('RESEND', 'FAIL')", name=op.f("ck_sms_policies_in_doubt")),
        sa.CheckConstraint("locale IN ('zh-CN', 'en')", name=op.f("ck_sms_policies_locale")),
        sa.PrimaryKeyConstraint("effective_from", name=op.f("pk_sms_policies")),
    )
    assert policies is not None  # noqa: S101 - create_table returns the table it made
    op.bulk_insert(
        policies,
        [
            {
                "effective_from": SEED_FROM,
                "daily_cap_per_phone": 10,
                "max_attempts": 5,
                "first_retry_seconds": 60,
                "max_retry_seconds": 1800,
                "in_doubt": "RESEND",
                "locale": "zh-CN",
            }
        ],
    )


def downgrade() -> None:
    """Drop the SMS tables and the outbox's delivery columns."""
    op.drop_table("sms_policies")
    op.drop_table("sms_deliveries")
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_outbox_phone_done_at")
        batch_op.drop_index("uq_sms_outbox_dedup_key")
        for column in (
            "last_error",
            "body",
            "message_refs",
            "parts_sent",
            "claimed_at",
            "next_attempt_at",
            "attempts",
            "dedup_key",
            "amount_fen",
        ):
            batch_op.drop_column(column)
