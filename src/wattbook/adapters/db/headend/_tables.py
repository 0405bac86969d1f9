"""The schema: tables, keys and the CHECK constraints that guard the money (CONVENTIONS §4, §8).

Amounts are BIGINT fen (``*_fen``), energies BIGINT Wh (``*_wh``), prices BIGINT yuan/kWh x 10^4
(:class:`PriceColumn`), instants UTC (:class:`UtcDateTime`), local calendar days ``DATE``.
Stored enum values are uppercase codes."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import OUTBOX_STATUSES, REGISTERS, BigId, _in, metadata
from wattbook.adapters.db._types import UtcDateTime

relay_commands = sa.Table(
    "relay_commands",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("meter_number", sa.String(12), nullable=True),
    sa.Column("action", sa.String(16), nullable=False),
    # A short code: the rules' reason (ARREARS, WARNING_CUT ...) or OPERATOR (migration 0010).
    sa.Column("reason", sa.String(24), nullable=False),
    # An operator's order: who gave it and why, whole (A1, A4).
    sa.Column("ordered_by", sa.String(100), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    # The warning cut's re-close waits here: a row, so it survives a restart.
    sa.Column("not_before_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("done_at", UtcDateTime, nullable=True),
    # The head-end's attempts so far and the last failure (migration 0003).
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_relay_commands_status_not_before_at", "status", "not_before_at"),
    # The portal's "Why was my power off?" (migration 0017).
    sa.Index("ix_relay_commands_account_id_created_at", "account_id", "created_at"),
    sa.CheckConstraint(
        _in("action", ("TRIP", "CLOSE", "KEEP_POWER_ON", "KEEP_POWER_OFF")), name="action"
    ),
    sa.CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
)

EVENT_KINDS = (
    "METER_COVER_OPENED",
    "TERMINAL_COVER_OPENED",
    "POWER_DOWN",
    "OVER_CURRENT",
    "RELAY_TRIPPED",
    "RELAY_CLOSED",
)

# Policy data: how often each thing is read, and the thresholds that go with it (seeded DEFAULT).
poll_plans = sa.Table(
    "poll_plans",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("energy_every_s", sa.Integer, nullable=False),
    sa.Column("status_every_s", sa.Integer, nullable=False),
    sa.Column("clock_every_s", sa.Integer, nullable=False),
    sa.Column("settlement_day", sa.Integer, nullable=False),
    sa.Column("settlement_hour", sa.Integer, nullable=False),
    sa.Column("drift_limit_s", sa.Integer, nullable=False),
    sa.Column("no_communication_after", sa.Integer, nullable=False),
    sa.Column("relay_attempts", sa.Integer, nullable=False),
    sa.Column("relay_backoff_s", sa.Integer, nullable=False),
    sa.CheckConstraint(
        "energy_every_s > 0 AND status_every_s > 0 AND clock_every_s > 0", name="intervals"
    ),
    sa.CheckConstraint(
        "settlement_day BETWEEN 1 AND 28 AND settlement_hour BETWEEN 0 AND 23", name="settlement"
    ),
    sa.CheckConstraint(
        "drift_limit_s > 0 AND no_communication_after >= 1 AND relay_attempts >= 1 "
        "AND relay_backoff_s >= 0",
        name="limits",
    ),
)

buses = sa.Table(
    "buses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("url", sa.String(200), nullable=False),
    sa.Column("baud", sa.Integer, nullable=False),
    sa.Column("response_timeout_ms", sa.Integer, nullable=False),
    sa.CheckConstraint("baud IN (1200, 2400, 4800, 9600, 19200)", name="baud"),
    sa.CheckConstraint("response_timeout_ms > 0", name="timeout"),
)

# One bus per meter: RS-485 is a wire, a meter hangs on one.
bus_meters = sa.Table(
    "bus_meters",
    metadata,
    sa.Column("meter_number", sa.String(12), primary_key=True),
    sa.Column("bus_id", sa.Integer, sa.ForeignKey("buses.id"), nullable=False, index=True),
    sa.Column("plan", sa.String(32), sa.ForeignKey("poll_plans.name"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.CheckConstraint("length(meter_number) = 12", name="meter_number_length"),
)

# The event counters last seen on each meter: a counter that moved means records to read.
meter_event_counts = sa.Table(
    "meter_event_counts",
    metadata,
    sa.Column("meter_number", sa.String(12), primary_key=True),
    sa.Column("kind", sa.String(24), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(_in("kind", EVENT_KINDS), name="kind"),
    sa.CheckConstraint("count >= 0", name="count_not_negative"),
)

# Events with their original meter times (M6, C3); unique so that a re-upload is harmless.
meter_events = sa.Table(
    "meter_events",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("meter_number", sa.String(12), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("meter_number", "kind", "occurred_at"),
    sa.CheckConstraint(_in("kind", EVENT_KINDS), name="kind"),
)

# C2: each meter's current run of failures.
meter_communication = sa.Table(
    "meter_communication",
    metadata,
    sa.Column("meter_number", sa.String(12), primary_key=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    sa.Column("last_success_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.CheckConstraint("consecutive_failures >= 0", name="failures_not_negative"),
)

# C2: collection success per bus and per meter (meter_number '') per local day.
communication_days = sa.Table(
    "communication_days",
    metadata,
    sa.Column("bus", sa.String(64), primary_key=True),
    sa.Column("meter_number", sa.String(12), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("successes", sa.Integer, nullable=False),
    sa.CheckConstraint("successes >= 0 AND successes <= attempts", name="counts"),
)

# The last status word and instantaneous values read from each meter (M3), for the console.
meter_latest = sa.Table(
    "meter_latest",
    metadata,
    sa.Column("meter_number", sa.String(12), primary_key=True),
    sa.Column("read_at", UtcDateTime, nullable=False),
    sa.Column("relay_open", sa.Boolean, nullable=False),
    sa.Column("relay_command_open", sa.Boolean, nullable=False),
    sa.Column("keep_power", sa.Boolean, nullable=False),
    sa.Column("voltage_mv", sa.BigInteger, nullable=True),
    sa.Column("current_ma", sa.BigInteger, nullable=True),
    sa.Column("active_power_mw", sa.BigInteger, nullable=True),
)

# M2: the registers each meter froze at the settlement that closed a month.
meter_settlements = sa.Table(
    "meter_settlements",
    metadata,
    sa.Column("meter_number", sa.String(12), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    *[sa.Column(name, sa.BigInteger, nullable=False) for name in REGISTERS],
    sa.Column("read_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("length(month) = 7", name="month_format"),
)

# C5: every clock reading, its drift, and whether the head-end corrected it.
meter_clock_checks = sa.Table(
    "meter_clock_checks",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("meter_number", sa.String(12), nullable=False, index=True),
    sa.Column("checked_at", UtcDateTime, nullable=False),
    sa.Column("meter_at", UtcDateTime, nullable=False),
    sa.Column("drift_ms", sa.BigInteger, nullable=False),
    sa.Column("corrected", sa.Boolean, nullable=False),
)

# Read-now requests (issue 12): the console asks, the head-end that owns the meter's bus
# serves the request before its schedule and stores the outcome here (migration 0020).
meter_read_requests = sa.Table(
    "meter_read_requests",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("meter_number", sa.String(12), nullable=False),
    sa.Column("requested_by", sa.String(100), nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("done_at", UtcDateTime, nullable=True),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("read_at", UtcDateTime, nullable=True),
    sa.Column("total_wh", sa.BigInteger, nullable=True),
    sa.Column("relay_open", sa.Boolean, nullable=True),
    sa.Column("active_power_mw", sa.BigInteger, nullable=True),
    sa.Column("voltage_mv", sa.BigInteger, nullable=True),
    sa.Column("current_ma", sa.BigInteger, nullable=True),
    sa.Index("ix_meter_read_requests_status_requested_at", "status", "requested_at"),
    sa.Index("ix_meter_read_requests_meter_number_id", "meter_number", "id"),
    # One pending request per meter: two asks at once cannot both queue one.
    sa.Index(
        "uq_meter_read_requests_pending_meter",
        "meter_number",
        unique=True,
        sqlite_where=sa.text("status = 'PENDING'"),
        postgresql_where=sa.text("status = 'PENDING'"),
    ),
    sa.CheckConstraint(_in("status", ("PENDING", "DONE", "FAILED", "EXPIRED")), name="status"),
    sa.CheckConstraint("total_wh IS NULL OR total_wh >= 0", name="total_wh_not_negative"),
)
