"""The JSON API's tables: tokens (only their SHA-256 is kept) and idempotency records."""

from __future__ import annotations

import sqlalchemy as sa

from wattbook.adapters.db._metadata import metadata
from wattbook.adapters.db._types import UtcDateTime

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    # The SHA-256 of the whole token, hex: the token itself is shown once and never stored.
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    # The token's first characters, so that staff can tell tokens apart in a list.
    sa.Column("prefix", sa.String(16), nullable=False),
    # Space-separated scope codes, e.g. "accounts balances".
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Column("revoked_by", sa.String(100), nullable=True),
    sa.CheckConstraint("scopes <> ''", name="scopes_given"),
    sa.CheckConstraint("(revoked_at IS NULL) = (revoked_by IS NULL)", name="revoked_by_whom"),
)

# The first answer to each (token, Idempotency-Key): a replay gets it back and changes nothing.
api_idempotency = sa.Table(
    "api_idempotency",
    metadata,
    sa.Column("token_id", sa.Integer, sa.ForeignKey("api_tokens.id"), primary_key=True),
    sa.Column("idempotency_key", sa.String(100), primary_key=True),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
