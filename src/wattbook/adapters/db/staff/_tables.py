"""The staff area's tables: operators and the audit log (A4).

Declared on the shared ``metadata``; created by migration r0018_staff_console, which also
puts triggers on ``audit_log`` that refuse UPDATE and DELETE on both backends."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import BigId, _in, metadata
from wattbook.adapters.db._types import UtcDateTime

ROLES = ("ADMINISTRATOR", "CASHIER", "ENGINEER", "VIEWER")

operators = sa.Table(
    "operators",
    metadata,
    sa.Column("login", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UtcDateTime, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(_in("role", ROLES), name="role"),
    sa.CheckConstraint("failed_logins >= 0", name="failures_not_negative"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(100), nullable=False),
    sa.Column("before", sa.Text, nullable=False, server_default=""),
    sa.Column("after", sa.Text, nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_actor_at", "actor", "at"),
    sa.Index("ix_audit_log_target", "target"),
)
