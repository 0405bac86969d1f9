"""The prepaid area's tables: rule states, keep-power orders, the calendar, the policy."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import BigId, _in, metadata
from wattbook.adapters.db._types import UtcDateTime

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
# The centre's own days: ``origin`` SET (one day by hand) or IMPORT (a day of the
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
