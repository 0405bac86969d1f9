"""The schema: tables, keys and the CHECK constraints that guard the money (CONVENTIONS §4, §8).

Amounts are BIGINT fen (``*_fen``), energies BIGINT Wh (``*_wh``), prices BIGINT yuan/kWh x 10^4
(:class:`PriceColumn`), instants UTC (:class:`UtcDateTime`), local calendar days ``DATE``.
Stored enum values are uppercase codes."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import BigId, _in, metadata
from wattbook.adapters.db._types import UtcDateTime

alarms = sa.Table(
    "alarms",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column(
        "installation_id", sa.Integer, sa.ForeignKey("meter_installations.id"), nullable=False
    ),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    # A re-delivered bad reading raises its alarm once.
    sa.UniqueConstraint("installation_id", "kind", "at"),
    sa.CheckConstraint(
        _in(
            "kind",
            ("REGISTER_BACKWARDS", "IMPLAUSIBLE_JUMP", "TOU_MISMATCH", "LATE_READING_INCONSISTENT"),
        ),
        name="kind",
    ),
)

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

ALARM_KINDS = (
    "OVER_CURRENT_TRIP",
    "METER_COVER_OPENED",
    "TERMINAL_COVER_OPENED",
    "POWER_DOWN",
    "RELAY_STATE_MISMATCH",
    "RELAY_NOT_CONFIRMED",
    "NO_COMMUNICATION",
    "EVENT_RECORDS_LOST",
)

# Alarms for the console: start, end (NULL while it lasts) and acknowledgement.
meter_alarms = sa.Table(
    "meter_alarms",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("meter_number", sa.String(12), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("acknowledged_at", UtcDateTime, nullable=True),
    sa.Column("acknowledged_by", sa.String(100), nullable=True),
    sa.UniqueConstraint("meter_number", "kind", "started_at"),
    sa.Index("ix_meter_alarms_ended_at_meter_number", "ended_at", "meter_number"),
    sa.CheckConstraint(_in("kind", ALARM_KINDS), name="kind"),
    sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
    sa.CheckConstraint(
        "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)", name="acknowledged_by_whom"
    ),
)
