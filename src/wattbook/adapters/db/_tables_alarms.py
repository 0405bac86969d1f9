"""System alarms: what a rule could not decide about the whole system (a year, a bus).

Declared on the shared ``metadata``; created by migration 0008; the bank kinds by 0014, the
kiosk kinds by 0015.
"""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._tables import BigId, _in, metadata
from wattbook.adapters.db._types import UtcDateTime

SYSTEM_ALARM_KINDS = (
    "HOLIDAY_SCHEDULE_UNCONFIRMED",
    "BUS_UNREACHABLE",
    "BANK_CALLBACK_REFUSED",
    "BANK_DEBIT_UNANSWERED",
    "KIOSK_NOTE_RETURNED_CREDITED",
    "KIOSK_ACCEPTOR_FAULT",
)

system_alarms = sa.Table(
    "system_alarms",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("acknowledged_at", UtcDateTime, nullable=True),
    sa.Column("acknowledged_by", sa.String(100), nullable=True),
    sa.UniqueConstraint("kind", "subject", "started_at"),
    sa.Index("ix_system_alarms_ended_at", "ended_at"),
    sa.CheckConstraint(_in("kind", SYSTEM_ALARM_KINDS), name="kind"),
    sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
    sa.CheckConstraint(
        "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)", name="acknowledged_by_whom"
    ),
)
