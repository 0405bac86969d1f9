"""SMS tables (issue 6): delivery records and the SMS policy.

Declared on the shared ``metadata``; created by migration r0005_sms. The outbox itself is
``sms_outbox`` in :mod:`wattbook.adapters.db._tables`, where its delivery columns are declared.
"""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._tables import BigId, _in, metadata
from wattbook.adapters.db._types import UtcDateTime

DELIVERY_OUTCOMES = ("SENT", "RETRY", "FAILED", "INTERRUPTED")
IN_DOUBT_RULES = ("RESEND", "FAIL")
SMS_LOCALES = ("zh-CN", "en")

# One row per attempt to send an outbox message: who sent it, when, what came of it, and the
# sender's references of the parts it got out. An open row (no outcome) is an attempt in flight.
sms_deliveries = sa.Table(
    "sms_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("outbox_id", BigId, sa.ForeignKey("sms_outbox.id"), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("sender", sa.String(16), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("outcome", sa.String(12), nullable=True),
    sa.Column("message_refs", sa.String(400), nullable=False, server_default=""),
    sa.Column("error", sa.String(200), nullable=True),
    sa.UniqueConstraint("outbox_id", "attempt"),
    sa.CheckConstraint("attempt >= 1", name="attempt_positive"),
    sa.CheckConstraint("outcome IS NULL OR " + _in("outcome", DELIVERY_OUTCOMES), name="outcome"),
    sa.CheckConstraint("(outcome IS NULL) = (finished_at IS NULL)", name="finished_iff_outcome"),
)

# Policy data (CONVENTIONS §1): effective-dated, seeded by migration 0005.
sms_policies = sa.Table(
    "sms_policies",
    metadata,
    sa.Column("effective_from", sa.Date, primary_key=True),
    sa.Column("daily_cap_per_phone", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("first_retry_seconds", sa.Integer, nullable=False),
    sa.Column("max_retry_seconds", sa.Integer, nullable=False),
    sa.Column("in_doubt", sa.String(8), nullable=False),
    sa.Column("locale", sa.String(8), nullable=False),
    sa.CheckConstraint("daily_cap_per_phone >= 1", name="cap_positive"),
    sa.CheckConstraint("max_attempts >= 1", name="attempts_positive"),
    sa.CheckConstraint(
        "first_retry_seconds > 0 AND max_retry_seconds >= first_retry_seconds", name="back_off"
    ),
    sa.CheckConstraint(_in("in_doubt", IN_DOUBT_RULES), name="in_doubt"),
    sa.CheckConstraint(_in("locale", SMS_LOCALES), name="locale"),
)
