"""The residents' portal: indexes for one household's relay commands and texts.

The portal reads a household's relay commands ("Why was my power off?") and its SMS
("Texts we sent you") newest first; without these indexes each page would scan the whole
campus's outbox rows.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the portal's per-household indexes."""
    op.create_index(
        "ix_relay_commands_account_id_created_at", "relay_commands", ["account_id", "created_at"]
    )
    op.create_index(
        "ix_sms_outbox_account_id_created_at", "sms_outbox", ["account_id", "created_at"]
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_sms_outbox_account_id_created_at", table_name="sms_outbox")
    op.drop_index("ix_relay_commands_account_id_created_at", table_name="relay_commands")
