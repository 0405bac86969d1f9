"""The billing area's tables: tariffs, the journal and balances, charge totals, month-end
statements."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import BigId, _in, _postgresql_only, _sqlite_only, metadata
from wattbook.adapters.db._types import PriceColumn, UtcDateTime
from wattbook.domain.billing import StatementStatus

ENTRY_KINDS = (
    "OPENING_BALANCE",
    "MIGRATION_CREDIT",
    "TOP_UP",
    "CHARGE",
    "CORRECTION",
    "ADJUSTMENT",
)

tariffs = sa.Table(
    "tariffs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("item", sa.String(32), nullable=False),
    sa.Column("effective_from", sa.Date, nullable=False),
    sa.Column("effective_to", sa.Date, nullable=True),
    sa.CheckConstraint(
        "effective_to IS NULL OR effective_to > effective_from", name="period_not_empty"
    ),
)

tariff_components = sa.Table(
    "tariff_components",
    metadata,
    sa.Column("tariff_id", sa.Integer, sa.ForeignKey("tariffs.id"), primary_key=True),
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("period", sa.String(8), nullable=True),
    sa.Column("from_year_wh", sa.BigInteger, nullable=False),
    sa.Column("price", PriceColumn, nullable=False),
    sa.CheckConstraint("price >= 0", name="price_not_negative"),
    sa.CheckConstraint("from_year_wh >= 0", name="band_start_not_negative"),
    sa.CheckConstraint(
        "period IS NULL OR " + _in("period", ("SHARP", "PEAK", "FLAT", "VALLEY")), name="period"
    ),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("reference", sa.String(120), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("reverses_id", BigId, nullable=True),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("balance_after_fen", sa.BigInteger, nullable=False),
    sa.Index("ix_ledger_entries_account_id_at", "account_id", "at"),
    # On PostgreSQL the table is partitioned by month on ``at`` (ADR 21): a unique key there
    # must contain ``at``, so the reference, the reversal and the id other tables point at are
    # held unique by ``ledger_keys`` (revision 0025), filled by a trigger, instead.
    *_sqlite_only(
        sa.UniqueConstraint("reference"),
        # An entry is reversed at most once.
        sa.UniqueConstraint("reverses_id"),
        sa.ForeignKeyConstraint(["reverses_id"], ["ledger_entries.id"]),
    ),
    *_postgresql_only(sa.Index("ix_ledger_entries_reference", "reference")),
    sa.CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
    # Each kind's sign (domain.ledger.EntryKind); zero-amount entries are refused.
    sa.CheckConstraint("amount_fen <> 0", name="not_zero"),
    sa.CheckConstraint(
        "kind NOT IN ('MIGRATION_CREDIT', 'TOP_UP') OR amount_fen > 0", name="credit_positive"
    ),
    sa.CheckConstraint("kind <> 'CHARGE' OR amount_fen < 0", name="charge_negative"),
    sa.CheckConstraint(
        "(kind = 'CORRECTION') = (reverses_id IS NOT NULL)", name="correction_reverses"
    ),
)

# The cached balance, written in the same transaction as each entry.
balances = sa.Table(
    "balances",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("balance_fen", sa.BigInteger, nullable=False),
    sa.Column("entry_count", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("entry_count >= 0", name="entry_count_not_negative"),
)

# B8: what a migration credit bought, to show it as negative usage on the statement.
migration_credits = sa.Table(
    "migration_credits",
    metadata,
    sa.Column("entry_id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("energy_wh", sa.BigInteger, nullable=False),
    sa.Column("price", PriceColumn, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.CheckConstraint("energy_wh > 0", name="energy_positive"),
    # On PostgreSQL this key points at ledger_keys.id (ADR 21).
    *_sqlite_only(sa.ForeignKeyConstraint(["entry_id"], ["ledger_entries.id"])),
)

# Cumulative charging per account, tariff and billing month (billing.ChargeTotal).
charge_totals = sa.Table(
    "charge_totals",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("tariff_key", sa.String(64), sa.ForeignKey("tariffs.key"), primary_key=True),
    sa.Column("charged_fen", sa.BigInteger, nullable=False),
    sa.CheckConstraint("charged_fen >= 0", name="charged_not_negative"),
    sa.CheckConstraint("length(month) = 7", name="month_format"),
)

charge_energy = sa.Table(
    "charge_energy",
    metadata,
    sa.Column("account_id", sa.Integer, primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("tariff_key", sa.String(64), primary_key=True),
    sa.Column("component", sa.String(16), primary_key=True),
    sa.Column("energy_wh", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["account_id", "month", "tariff_key"],
        ["charge_totals.account_id", "charge_totals.month", "charge_totals.tariff_key"],
    ),
    sa.CheckConstraint("energy_wh >= 0", name="energy_not_negative"),
)

STATEMENT_STATUSES = tuple(status.value for status in StatementStatus)

# Month-end (B3): one row per month whose statements were written, with their totals. Its key
# is what makes a month-end write a month once.
month_end_runs = sa.Table(
    "month_end_runs",
    metadata,
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("written_at", UtcDateTime, nullable=False),
    sa.Column("account_count", sa.Integer, nullable=False),
    sa.Column("line_count", sa.Integer, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("unpaid_line_count", sa.Integer, nullable=False),
    sa.CheckConstraint("length(month) = 7", name="month_format"),
)

# The written statement lines (billing.StatementLine): a charge line per account and tariff
# version (line_key: the tariff key), a B8 credit line per credit (line_key: CREDIT:entry id).
# The key leads with the month, so a month's lines sit together (and could be partitioned).
statement_lines = sa.Table(
    "statement_lines",
    metadata,
    sa.Column("month", sa.String(7), sa.ForeignKey("month_end_runs.month"), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("line_key", sa.String(80), primary_key=True),
    sa.Column("item", sa.String(32), nullable=False),
    sa.Column("price", PriceColumn, nullable=True),
    sa.Column("energy_wh", sa.BigInteger, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.CheckConstraint(_in("status", STATEMENT_STATUSES), name="status"),
)
