"""The one alarm table: every kind of alarm, a meter's, a reading's and the system's (ADR 12).

Instants are UTC (:class:`UtcDateTime`). Stored kinds are :class:`domain.alarms.AlarmKind`
codes; the check below is built from that enum, so the two cannot drift apart.
"""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import BigId, _in, metadata
from wattbook.adapters.db._types import UtcDateTime
from wattbook.domain.alarms import AlarmKind

ALARM_KINDS = tuple(kind.value for kind in AlarmKind)

alarms = sa.Table(
    "alarms",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    # What the alarm is about: the meter number for meter and reading alarms, else the year,
    # the bus, the debit or the kiosk.
    sa.Column("subject", sa.String(64), nullable=False),
    # Set for meter and reading alarms (then equal to subject), for the console's filters.
    sa.Column("meter_number", sa.String(12), nullable=True),
    # The installation a reading alarm's reading belongs to (NULL for other kinds).
    sa.Column(
        "installation_id", sa.Integer, sa.ForeignKey("meter_installations.id"), nullable=True
    ),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("acknowledged_at", UtcDateTime, nullable=True),
    sa.Column("acknowledged_by", sa.String(100), nullable=True),
    # A re-delivered cause (a reading, an event record) raises its alarm once.
    sa.UniqueConstraint("kind", "subject", "started_at"),
    sa.Index("ix_alarms_ended_at_subject", "ended_at", "subject"),
    sa.Index("ix_alarms_meter_number_started_at", "meter_number", "started_at"),
    sa.CheckConstraint(_in("kind", ALARM_KINDS), name="kind"),
    sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
    sa.CheckConstraint(
        "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)", name="acknowledged_by_whom"
    ),
    sa.CheckConstraint("meter_number IS NULL OR meter_number = subject", name="meter_is_subject"),
)
