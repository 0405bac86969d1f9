"""The metering area's tables: register baselines, readings and usage aggregates (Q5)."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import BigId, _in, _registers, _registers_not_negative, metadata
from wattbook.adapters.db._types import UtcDateTime

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
