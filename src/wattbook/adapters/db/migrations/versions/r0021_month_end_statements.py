"""Month-end statements written to the database: the month's run and every account's lines.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = wattbook.adapters.db._types.UtcDateTime
_PRICE = wattbook.adapters.db._types.PriceColumn


def upgrade() -> None:
    """Create the month-end runs and the statement lines."""
    op.create_table(
        "month_end_runs",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("written_at", _UTC(timezone=True), nullable=False),
        sa.Column("account_count", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("unpaid_line_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("length(month) = 7", name=op.f("ck_month_end_runs_month_format")),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_month_end_runs")),
    )
    op.create_table(
        "statement_lines",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("line_key", sa.String(length=80), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("price", _PRICE(), nullable=True),
        sa.Column("energy_wh", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.CheckConstraint("status IN ('PAID', 'UNPAID')", name=op.f("ck_statement_lines_status")),
        sa.ForeignKeyConstraint(
            ["month"],
            ["month_end_runs.month"],
            name=op.f("fk_statement_lines_month"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_statement_lines_account_id"),
        ),
        sa.PrimaryKeyConstraint("month", "account_id", "line_key", name=op.f("pk_statement_lines")),
    )


def downgrade() -> None:
    """Drop the statement lines and the runs."""
    op.drop_table("statement_lines")
    op.drop_table("month_end_runs")
