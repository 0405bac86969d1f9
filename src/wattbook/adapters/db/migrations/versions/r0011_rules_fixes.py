"""Who made each account change (A2/A4).

Adds ``account_changes.changed_by`` (NOT NULL). Rows written before this revision did not
record it; they get ``before-0011 (not recorded)`` so that nobody is named who did not act.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_RECORDED = "before-0011 (not recorded)"


def upgrade() -> None:
    """Add who made each account change."""
    with op.batch_alter_table("account_changes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("changed_by", sa.String(length=100), nullable=True),
        )
    op.execute(sa.text("UPDATE account_changes SET changed_by = :who").bindparams(who=NOT_RECORDED))
    with op.batch_alter_table("account_changes", schema=None) as batch_op:
        batch_op.alter_column("changed_by", existing_type=sa.String(length=100), nullable=False)


def downgrade() -> None:
    """Drop who made each account change."""
    with op.batch_alter_table("account_changes", schema=None) as batch_op:
        batch_op.drop_column("changed_by")
