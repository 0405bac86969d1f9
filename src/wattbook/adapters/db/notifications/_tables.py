"""The schema: tables, keys and the CHECK constraints that guard the money (CONVENTIONS §4, §8).

Amounts are BIGINT fen (``*_fen``), energies BIGINT Wh (``*_wh``), prices BIGINT yuan/kWh x 10^4
(:class:`PriceColumn`), instants UTC (:class:`UtcDateTime`), local calendar days ``DATE``.
Stored enum values are uppercase codes."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import OUTBOX_STATUSES, BigId, _in, metadata
from wattbook.adapters.db._types import PriceColumn, UtcDateTime

sms_outbox = sa.Table(
    "sms_outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("phone", sa.String(20), nullable=True),
    sa.Column("balance_fen", sa.BigInteger, nullable=False),
    sa.Column("price", PriceColumn, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("done_at", UtcDateTime, nullable=True),
    # Delivery state (migration 0005): the worker's claim, attempts and back-off, the
    # parts accepted so far with their references, the frozen text, and the last error.
    sa.Column("amount_fen", sa.BigInteger, nullable=True),
    sa.Column("dedup_key", sa.String(120), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    sa.Column("claimed_at", UtcDateTime, nullable=True),
    sa.Column("parts_sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("message_refs", sa.String(400), nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("last_error", sa.String(200), nullable=True),
    # Sending through the modem's storage (migration 0007, ADR 8): the storage index of the
    # next part, written and recorded but not yet recorded as sent, and whether the claim
    # sends through the storage at all.
    sa.Column("stored_index", sa.Integer, nullable=True),
    sa.Column("stores_parts", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_sms_outbox_status_id", "status", "id"),
    sa.Index("uq_sms_outbox_dedup_key", "dedup_key", unique=True),
    sa.Index("ix_sms_outbox_phone_done_at", "phone", "done_at"),
    # The portal's "Texts we sent you" (migration 0017).
    sa.Index("ix_sms_outbox_account_id_created_at", "account_id", "created_at"),
    sa.CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
)

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
