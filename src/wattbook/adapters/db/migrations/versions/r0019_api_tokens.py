"""The JSON API: its tokens (hashed, with scopes) and its idempotency records; an index of
payments by time for the daily collections report.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the API token register and the idempotency records; index payments by time
    for the daily collections report."""
    op.create_index("ix_payments_at", "payments", ["at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at", wattbook.adapters.db._types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column(
            "revoked_at", wattbook.adapters.db._types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint("scopes <> ''", name=op.f("ck_api_tokens_scopes_given")),
        sa.CheckConstraint(
            "(revoked_at IS NULL) = (revoked_by IS NULL)",
            name=op.f("ck_api_tokens_revoked_by_whom"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_table(
        "api_idempotency",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at", wattbook.adapters.db._types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_api_idempotency_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("token_id", "idempotency_key", name=op.f("pk_api_idempotency")),
    )


def downgrade() -> None:
    """Drop the idempotency records, the token register and the payments' time index."""
    op.drop_index("ix_payments_at", table_name="payments")
    op.drop_table("api_idempotency")
    op.drop_table("api_tokens")
