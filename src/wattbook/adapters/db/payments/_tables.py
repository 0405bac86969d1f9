"""Payment tables: receipts, counter policy, kiosk journal, bank agreements and debits.

Declared on the shared ``metadata``; created by migration r0004_payments."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import BigId, _in, _sqlite_only, metadata
from wattbook.adapters.db._types import UtcDateTime

CHANNELS = ("COUNTER", "KIOSK", "BANK_AUTO")

PAYMENT_KINDS = ("TOP_UP", "MOVE_OUT", "MOVE_IN", "REFUND")

KIOSK_STATES = (
    "ENTERING_ACCOUNT",
    "CONFIRMING_DETAILS",
    "INSERTING_NOTES",
    "CREDITED",
    "ABANDONED",
)

DEBIT_STATUSES = ("REQUESTED", "SUCCEEDED", "INSUFFICIENT_FUNDS", "CARD_CLOSED", "REFUSED")

# The last receipt sequence used per channel and local day: the receipt number's counter.
receipt_sequences = sa.Table(
    "receipt_sequences",
    metadata,
    sa.Column("channel", sa.String(12), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("last_sequence", sa.Integer, nullable=False),
    sa.CheckConstraint(_in("channel", CHANNELS), name="channel"),
    sa.CheckConstraint("last_sequence BETWEEN 1 AND 999999", name="sequence_range"),
)

# One row per receipt: the payment record of P5, pointing at its journal entry.
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("receipt_number", sa.String(16), nullable=False, unique=True),
    sa.Column("channel", sa.String(12), nullable=False),
    # The channel's own reference (kiosk transaction id, bank serial, counter form token).
    sa.Column("channel_reference", sa.String(80), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("entry_id", BigId, nullable=False, unique=True),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("balance_before_fen", sa.BigInteger, nullable=False),
    sa.Column("balance_after_fen", sa.BigInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("operator", sa.String(100), nullable=True),
    sa.Column("corrects_receipt", sa.String(16), nullable=True),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("channel", "channel_reference", "kind"),
    # On PostgreSQL this key points at ledger_keys.id (ADR 21).
    *_sqlite_only(sa.ForeignKeyConstraint(["entry_id"], ["ledger_entries.id"])),
    sa.Index("ix_payments_account_id_at", "account_id", "at"),
    # The daily collections report reads a range of days across every account (issue 12).
    sa.Index("ix_payments_at", "at"),
    sa.CheckConstraint(_in("channel", CHANNELS), name="channel"),
    sa.CheckConstraint(_in("kind", PAYMENT_KINDS), name="kind"),
    sa.CheckConstraint("amount_fen <> 0", name="not_zero"),
    sa.CheckConstraint(
        "(kind IN ('TOP_UP', 'MOVE_IN')) = (amount_fen > 0)", name="sign_follows_kind"
    ),
    sa.CheckConstraint(
        "balance_after_fen = balance_before_fen + amount_fen", name="balance_after_adds_up"
    ),
    sa.CheckConstraint("channel <> 'COUNTER' OR operator IS NOT NULL", name="counter_operator"),
)

# Policy (CONVENTIONS §1): the counter's weekly shifts, effective-dated.
counter_hours = sa.Table(
    "counter_hours",
    metadata,
    sa.Column("effective_from", sa.Date, primary_key=True),
    sa.Column("weekday", sa.Integer, primary_key=True),
    sa.Column("opens_at", sa.Time, primary_key=True),
    sa.Column("closes_at", sa.Time, nullable=False),
    sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
    sa.CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
)

# An administrator opening the counter outside its hours (P1).
counter_openings = sa.Table(
    "counter_openings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("start_at", UtcDateTime, nullable=False),
    sa.Column("end_at", UtcDateTime, nullable=False),
    sa.Column("opened_by", sa.String(100), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_counter_openings_end_at", "end_at"),
    sa.CheckConstraint("end_at > start_at", name="period_not_empty"),
)

# Registered kiosks (migration r0013): each signs its requests with its secret. The
# raw secret is kept because HMAC needs it on both sides: the database is the trust root. A
# kiosk registered by the migration has no secret until it is rotated.
kiosks = sa.Table(
    "kiosks",
    metadata,
    sa.Column("kiosk_id", sa.String(32), primary_key=True),
    sa.Column("secret", sa.String(64), nullable=True),
    sa.Column("registered_at", UtcDateTime, nullable=False),
    sa.Column("registered_by", sa.String(100), nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Column("last_acceptor_sequence", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("last_acceptor_sequence >= 0", name="sequence_not_negative"),
)

kiosk_sessions = sa.Table(
    "kiosk_sessions",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("transaction_id", sa.String(64), nullable=False, unique=True),
    sa.Column("kiosk_id", sa.String(32), nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("opened_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("recovered", sa.Boolean, nullable=False),
    sa.Index("ix_kiosk_sessions_state_updated_at", "state", "updated_at"),
    sa.CheckConstraint(_in("state", KIOSK_STATES), name="state"),
    sa.CheckConstraint(
        "state IN ('ENTERING_ACCOUNT', 'ABANDONED') OR account_id IS NOT NULL",
        name="account_once_entered",
    ),
)

# Every note, journalled before the acceptor stacks it (P2).
kiosk_notes = sa.Table(
    "kiosk_notes",
    metadata,
    sa.Column("session_id", BigId, sa.ForeignKey("kiosk_sessions.id"), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("accepted_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(
        "amount_fen IN (100, 500, 1000, 2000, 5000, 10000)",
        name="denomination",
    ),
    sa.CheckConstraint("sequence >= 1", name="sequence_positive"),
)

bank_agreements = sa.Table(
    "bank_agreements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agreement_number", sa.String(40), nullable=False, unique=True),
    sa.Column("holder", sa.String(100), nullable=False),
    sa.Column("id_number_masked", sa.String(40), nullable=False),
    sa.Column("card_token", sa.String(128), nullable=False, index=True),
    sa.Column("card_masked", sa.String(32), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("threshold_fen", sa.BigInteger, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("signed_on", sa.Date, nullable=False),
    sa.Column("cancelled_on", sa.Date, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(
        "threshold_fen IN (1000, 2000, 3000, 5000, 10000, 20000)",
        name="threshold",
    ),
    sa.CheckConstraint(
        "amount_fen IN (3000, 5000, 10000, 15000, 20000, 30000)",
        name="amount",
    ),
    sa.CheckConstraint("cancelled_on IS NULL OR cancelled_on >= signed_on", name="cancel_after"),
    sa.CheckConstraint("card_masked LIKE '%*%'", name="card_masked"),
)

bank_agreement_accounts = sa.Table(
    "bank_agreement_accounts",
    metadata,
    sa.Column("agreement_id", sa.Integer, sa.ForeignKey("bank_agreements.id"), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Index("ix_bank_agreement_accounts_account_id", "account_id"),
)

bank_debits = sa.Table(
    "bank_debits",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("debit_id", sa.String(32), nullable=False, unique=True),
    sa.Column("agreement_id", sa.Integer, sa.ForeignKey("bank_agreements.id"), nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.Column("settled_at", UtcDateTime, nullable=True),
    sa.Column("bank_serial", sa.String(64), nullable=True, unique=True),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    # P3: at most one debit per account per local day.
    sa.UniqueConstraint("account_id", "day"),
    sa.Index("ix_bank_debits_status_requested_at", "status", "requested_at"),
    sa.CheckConstraint(_in("status", DEBIT_STATUSES), name="status"),
    sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
    sa.CheckConstraint(
        "(status = 'REQUESTED') = (settled_at IS NULL)", name="settled_at_iff_settled"
    ),
)

# Every word the bank accepted on a debit (migration r0012): the debit's state
# machine's journal. A replay is recognised by (serial, status) whatever came after it, each
# credit's serial names its debit (so reconciliation checks debit by debit), and a debit is
# credited at most once by its own callbacks (the partial unique index). UNTRACKED marks a
# credit from before 0012 found in the payments, kept so a double credit then stays visible.
CALLBACK_SETTLEMENTS = (
    "CREDIT",
    "RECORD_FAILURE",
    "LATE_SUCCESS",
    "REPEATED_FAILURE",
    "UNTRACKED",
)

bank_callbacks = sa.Table(
    "bank_callbacks",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("serial", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("debit_id", sa.String(32), sa.ForeignKey("bank_debits.debit_id"), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("callback_at", UtcDateTime, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("settlement", sa.String(20), nullable=False),
    sa.UniqueConstraint("serial", "status"),
    sa.Index("ix_bank_callbacks_debit_id", "debit_id"),
    sa.Index(
        "uq_bank_callbacks_one_credit",
        "debit_id",
        unique=True,
        sqlite_where=sa.text("settlement IN ('CREDIT', 'LATE_SUCCESS')"),
        postgresql_where=sa.text("settlement IN ('CREDIT', 'LATE_SUCCESS')"),
    ),
    sa.CheckConstraint(_in("status", DEBIT_STATUSES[1:]), name="status"),
    sa.CheckConstraint(_in("settlement", CALLBACK_SETTLEMENTS), name="settlement"),
    sa.CheckConstraint(
        "(status = 'SUCCEEDED') = (settlement IN ('CREDIT', 'LATE_SUCCESS', 'UNTRACKED'))",
        name="settlement_follows_status",
    ),
)

# Who did what to a payment (P4, A4): moves, refunds, reprints, counter openings.
payment_audit = sa.Table(
    "payment_audit",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("receipt_number", sa.String(16), nullable=True, index=True),
    sa.Column("detail", sa.Text, nullable=False),
)

# A kiosk (or bank) receipt exchanged at the counter for an official campus receipt (P2).
official_receipts = sa.Table(
    "official_receipts",
    metadata,
    sa.Column("official_number", sa.String(32), primary_key=True),
    sa.Column("receipt_number", sa.String(16), nullable=False, unique=True),
    sa.Column("exchanged_at", UtcDateTime, nullable=False),
    sa.Column("exchanged_by", sa.String(100), nullable=False),
    sa.CheckConstraint("official_number <> ''", name="official_number_not_blank"),
)
