"""The schema: tables, keys and the CHECK constraints that guard the money (CONVENTIONS §4, §8).

Amounts are BIGINT fen (``*_fen``), energies BIGINT Wh (``*_wh``), prices BIGINT yuan/kWh x 10^4
(:class:`PriceColumn`), instants UTC (:class:`UtcDateTime`), local calendar days ``DATE``.
Stored enum values are uppercase codes.
"""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._types import PriceColumn, UtcDateTime

# Constraint names are stable so that migrations can refer to them on both backends.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Tables that grow with every reading get 64-bit keys on PostgreSQL; on SQLite an INTEGER
# PRIMARY KEY is the 64-bit rowid already, and only that spelling makes it autoincrement.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

REGISTERS = ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh")
ENTRY_KINDS = (
    "OPENING_BALANCE",
    "MIGRATION_CREDIT",
    "TOP_UP",
    "CHARGE",
    "CORRECTION",
    "ADJUSTMENT",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def _registers(prefix: str, *, nullable: bool) -> list[sa.Column[int]]:
    return [sa.Column(f"{prefix}{name}", sa.BigInteger, nullable=nullable) for name in REGISTERS]


def _registers_not_negative(prefix: str, name: str) -> sa.CheckConstraint:
    condition = " AND ".join(f"{prefix}{register} >= 0" for register in REGISTERS)
    return sa.CheckConstraint(condition, name=name)


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_number", sa.String(12), nullable=False, unique=True),
    sa.Column("holder", sa.String(100), nullable=False),
    sa.Column("phone", sa.String(20), nullable=True),
    sa.Column("address", sa.String(200), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("opened_at", UtcDateTime, nullable=False),
    sa.Column("closed_at", UtcDateTime, nullable=True),
    sa.CheckConstraint("length(account_number) = 12", name="number_length"),
    sa.CheckConstraint(_in("status", ("OPEN", "CLOSED")), name="status"),
    sa.CheckConstraint(
        "(status = 'OPEN' AND closed_at IS NULL) OR (status = 'CLOSED' AND closed_at IS NOT NULL)",
        name="closed_at_iff_closed",
    ),
)

# A2: every change of holder, phone or address, with the documents' note.
account_changes = sa.Table(
    "account_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("old_value", sa.String(200), nullable=True),
    sa.Column("new_value", sa.String(200), nullable=True),
    sa.Column("changed_at", UtcDateTime, nullable=False),
    # Who made the change (A2, A4); rows from before migration 0011 say so.
    sa.Column("changed_by", sa.String(100), nullable=False),
    sa.Column("document_note", sa.Text, nullable=False),
    sa.Column("attachment_ref", sa.String(200), nullable=False),
    sa.CheckConstraint(_in("kind", ("HOLDER", "PHONE", "ADDRESS")), name="kind"),
    sa.CheckConstraint(
        "kind <> 'HOLDER' OR (document_note <> '' AND attachment_ref <> '')",
        name="holder_change_documented",
    ),
)

meter_installations = sa.Table(
    "meter_installations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("meter_number", sa.String(12), nullable=False, index=True),
    sa.Column("bus", sa.String(200), nullable=False),
    sa.Column("installed_at", UtcDateTime, nullable=False),
    sa.Column("removed_at", UtcDateTime, nullable=True),
    *_registers("initial_", nullable=False),
    *_registers("final_", nullable=True),
    _registers_not_negative("initial_", "initial_not_negative"),
    sa.CheckConstraint("removed_at IS NULL OR removed_at >= installed_at", name="removed_after"),
    sa.CheckConstraint(
        "(removed_at IS NULL) = (final_total_wh IS NULL)", name="final_reading_iff_removed"
    ),
    sa.CheckConstraint("length(meter_number) = 12", name="meter_number_length"),
)
# One meter on an account at a time, and a meter on one account at a time.
sa.Index(
    "uq_meter_installations_current_account",
    meter_installations.c.account_id,
    unique=True,
    sqlite_where=meter_installations.c.removed_at.is_(None),
    postgresql_where=meter_installations.c.removed_at.is_(None),
)
sa.Index(
    "uq_meter_installations_current_meter",
    meter_installations.c.meter_number,
    unique=True,
    sqlite_where=meter_installations.c.removed_at.is_(None),
    postgresql_where=meter_installations.c.removed_at.is_(None),
)

# The register values charging has reached on each installation (metering.RegisterBaseline).
register_baselines = sa.Table(
    "register_baselines",
    metadata,
    sa.Column(
        "installation_id", sa.Integer, sa.ForeignKey("meter_installations.id"), primary_key=True
    ),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    *_registers("", nullable=False),
    _registers_not_negative("", "not_negative"),
    sa.CheckConstraint(
        _in("source", ("INSTALLATION", "READING", "REPLACEMENT", "ROLLOVER")), name="source"
    ),
)

READING_OUTCOMES = ("ACCEPTED", "LATE", "BACKWARDS", "IMPLAUSIBLE", "RELEASED")

readings = sa.Table(
    "readings",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column(
        "installation_id", sa.Integer, sa.ForeignKey("meter_installations.id"), nullable=False
    ),
    sa.Column("meter_time_at", UtcDateTime, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    *_registers("", nullable=False),
    sa.Column("outcome", sa.String(12), nullable=False),
    # A re-delivered reading has the same meter and meter time: it is stored once.
    sa.UniqueConstraint("installation_id", "meter_time_at"),
    _registers_not_negative("", "not_negative"),
    sa.CheckConstraint(_in("outcome", READING_OUTCOMES), name="outcome"),
)

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
    sa.Column("reference", sa.String(120), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("reverses_id", BigId, sa.ForeignKey("ledger_entries.id"), nullable=True),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("balance_after_fen", sa.BigInteger, nullable=False),
    sa.Index("ix_ledger_entries_account_id_at", "account_id", "at"),
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
    # An entry is reversed at most once.
    sa.UniqueConstraint("reverses_id"),
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
    sa.Column("entry_id", BigId, sa.ForeignKey("ledger_entries.id"), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("energy_wh", sa.BigInteger, nullable=False),
    sa.Column("price", PriceColumn, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.CheckConstraint("energy_wh > 0", name="energy_positive"),
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

# Usage by local day, month and year, per time-of-use register, kept on ingest for the portal.
usage_daily = sa.Table(
    "usage_daily",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    *_registers("", nullable=False),
)
usage_monthly = sa.Table(
    "usage_monthly",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    *_registers("", nullable=False),
)
usage_yearly = sa.Table(
    "usage_yearly",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    *_registers("", nullable=False),
)

# domain.prepaid.RuleState plus the relay state and the next time the rules must look again.
prepaid_states = sa.Table(
    "prepaid_states",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("low_balance_notified", sa.Boolean, nullable=False),
    sa.Column("warning_cut_done", sa.Boolean, nullable=False),
    sa.Column("warning_close_due_at", UtcDateTime, nullable=True),
    sa.Column("tripped_for_arrears", sa.Boolean, nullable=False),
    sa.Column("relay", sa.String(8), nullable=False),
    sa.Column("re_evaluate_at", UtcDateTime, nullable=True, index=True),
    sa.CheckConstraint(_in("relay", ("CLOSED", "OPEN", "UNKNOWN")), name="relay"),
)

keep_power_orders = sa.Table(
    "keep_power_orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("start_at", UtcDateTime, nullable=False),
    sa.Column("end_at", UtcDateTime, nullable=True),
    sa.Column("ordered_by", sa.String(100), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("end_at IS NULL OR end_at > start_at", name="period_not_empty"),
)

# Policy data (CONVENTIONS §1): effective-dated, seeded with the manual's values.
# The centre's own days (issue 9): ``origin`` SET (one day by hand) or IMPORT (a day of the
# State Council's schedule as imported); who changed it last and when. The whole history is in
# calendar_changes.
CALENDAR_ORIGINS = ("SET", "IMPORT")

calendar_overrides = sa.Table(
    "calendar_overrides",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("working", sa.Boolean, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("origin", sa.String(8), nullable=False),
    sa.Column("changed_by", sa.String(100), nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(_in("origin", CALENDAR_ORIGINS), name="origin"),
)

# Append-only: one row per day changed; ``working_*`` None where the day had (has) no override.
calendar_changes = sa.Table(
    "calendar_changes",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("working_before", sa.Boolean, nullable=True),
    sa.Column("working_after", sa.Boolean, nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("changed_by", sa.String(100), nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    sa.CheckConstraint(_in("source", CALENDAR_ORIGINS), name="source"),
)

# The years whose official schedule the centre imported (confirmed): no fallback for them.
calendar_years = sa.Table(
    "calendar_years",
    metadata,
    sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("confirmed_by", sa.String(100), nullable=False),
    sa.Column("confirmed_at", UtcDateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

prepaid_policies = sa.Table(
    "prepaid_policies",
    metadata,
    sa.Column("effective_from", sa.Date, primary_key=True),
    sa.Column("low_balance_wh", sa.BigInteger, nullable=False),
    sa.Column("warning_cut_wh", sa.BigInteger, nullable=False),
    sa.Column("reclose_delay_seconds", sa.Integer, nullable=False),
    sa.Column("holiday_rule", sa.String(32), nullable=False),
    sa.Column("deferred_trip_time", sa.Time, nullable=False),
    sa.CheckConstraint("warning_cut_wh >= 0 AND low_balance_wh >= 0", name="thresholds"),
    sa.CheckConstraint("reclose_delay_seconds >= 0", name="delay"),
    sa.CheckConstraint(
        _in("holiday_rule", ("NON_WORKING_DAYS", "STATUTORY_HOLIDAYS_ONLY")), name="holiday_rule"
    ),
)

OUTBOX_STATUSES = ("PENDING", "SENT", "CONFIRMED", "FAILED", "CANCELLED")

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
    # Delivery state (issue 6, migration 0005): the worker's claim, attempts and back-off, the
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
    sa.CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
)

relay_commands = sa.Table(
    "relay_commands",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("meter_number", sa.String(12), nullable=True),
    sa.Column("action", sa.String(16), nullable=False),
    # A short code: the rules' reason (ARREARS, WARNING_CUT ...) or OPERATOR (issue 9, 0010).
    sa.Column("reason", sa.String(24), nullable=False),
    # An operator's order: who gave it and why, whole (A1, A4).
    sa.Column("ordered_by", sa.String(100), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    # The warning cut's re-close waits here: a row, so it survives a restart.
    sa.Column("not_before_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("done_at", UtcDateTime, nullable=True),
    # The head-end's attempts so far and the last failure (issue 4, migration 0003).
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_relay_commands_status_not_before_at", "status", "not_before_at"),
    sa.CheckConstraint(
        _in("action", ("TRIP", "CLOSE", "KEEP_POWER_ON", "KEEP_POWER_OFF")), name="action"
    ),
    sa.CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
)
