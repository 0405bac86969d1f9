"""Kiosks as registered devices: the ``kiosks`` table.

Every kiosk id already found in ``kiosk_sessions`` is registered, without a usable secret: it
must be rotated (``wattbook kiosk rotate K01``) before its agent can sign anything. Its last
acceptor sequence starts at the highest note sequence it journalled, so the new acceptor
numbers never meet the old ones.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the kiosk register and register the kiosks already seen, without a secret."""
    op.create_table(
        "kiosks",
        sa.Column("kiosk_id", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=True),
        sa.Column(
            "registered_at",
            wattbook.adapters.db._types.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("registered_by", sa.String(length=100), nullable=False),
        sa.Column(
            "revoked_at", wattbook.adapters.db._types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_acceptor_sequence", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "last_acceptor_sequence >= 0", name=op.f("ck_kiosks_sequence_not_negative")
        ),
        sa.PrimaryKeyConstraint("kiosk_id", name=op.f("pk_kiosks")),
    )
    op.execute(
        sa.text(
            "INSERT INTO kiosks (kiosk_id, secret, registered_at, registered_by,"
            " last_acceptor_sequence)"
            " SELECT s.kiosk_id, NULL, MIN(s.opened_at), 'migration 0013',"
            " COALESCE(MAX(n.sequence), 0)"
            " FROM kiosk_sessions s LEFT JOIN kiosk_notes n ON n.session_id = s.id"
            " GROUP BY s.kiosk_id"
        )
    )


def downgrade() -> None:
    """Drop the kiosk register (sessions keep their kiosk ids)."""
    op.drop_table("kiosks")
