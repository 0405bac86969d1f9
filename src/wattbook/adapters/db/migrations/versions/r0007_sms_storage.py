"""SMS through the modem's storage: each outbox row's stored part (ADR 8).

Adds to ``sms_outbox`` (additive): ``stored_index``, the modem storage index of the next part,
written with ``AT+CMGW`` and recorded before it is sent with ``AT+CMSS``; and ``stores_parts``,
whether the row's claim sends through the storage, so that recovery knows a part with no index
was never handed to the modem.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the outbox's storage columns."""
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored_index", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("stores_parts", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Drop the outbox's storage columns."""
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.drop_column("stores_parts")
        batch_op.drop_column("stored_index")
