"""The accounts area's tables: accounts, their change history, meter installations."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import _in, _registers, _registers_not_negative, metadata
from wattbook.adapters.db._types import UtcDateTime

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
