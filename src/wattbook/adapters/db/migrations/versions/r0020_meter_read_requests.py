"""Read-now requests: the console asks, the head-end serves them on the meter's own bus.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = wattbook.adapters.db._types.UtcDateTime


def upgrade() -> None:
    """Create the read-request table."""
    op.create_table(
        "meter_read_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("meter_number", sa.String(length=12), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", _UTC(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("done_at", _UTC(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("read_at", _UTC(timezone=True), nullable=True),
        sa.Column("total_wh", sa.BigInteger(), nullable=True),
        sa.Column("relay_open", sa.Boolean(), nullable=True),
        sa.Column("active_power_mw", sa.BigInteger(), nullable=True),
        sa.Column("voltage_mv", sa.BigInteger(), nullable=True),
        sa.Column("current_ma", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "status IN ('PENDING', 'DONE', 'FAILED', 'EXPIRED')",
            name=op.f("ck_meter_read_requests_status"),
        ),
        sa.CheckConstraint(
            "total_wh IS NULL OR total_wh >= 0",
            name=op.f("ck_meter_read_requests_total_wh_not_negative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_read_requests")),
    )
    op.create_index(
        "ix_meter_read_requests_status_requested_at",
        "meter_read_requests",
        ["status", "requested_at"],
    )
    op.create_index(
        "ix_meter_read_requests_meter_number_id", "meter_read_requests", ["meter_number", "id"]
    )
    op.create_index(
        "uq_meter_read_requests_pending_meter",
        "meter_read_requests",
        ["meter_number"],
        unique=True,
        sqlite_where=sa.text("status = 'PENDING'"),
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    """Drop the read-request table."""
    op.drop_index("uq_meter_read_requests_pending_meter", table_name="meter_read_requests")
    op.drop_index("ix_meter_read_requests_meter_number_id", table_name="meter_read_requests")
    op.drop_index("ix_meter_read_requests_status_requested_at", table_name="meter_read_requests")
    op.drop_table("meter_read_requests")
