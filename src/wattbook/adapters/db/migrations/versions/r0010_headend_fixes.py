"""Head-end fixes: relay orders keep the operator's whole name and reason.

``relay_commands.reason`` stays a short code; an operator's order is reason ``OPERATOR`` with
the operator in ``ordered_by`` and their reason in ``note``. Rows written as
``OPERATOR:<name>`` (cut to 24 characters) are converted; the downgrade writes them back so
(cut again, and without the note, which the old form had no room for). The bus alarm
(BUS_UNREACHABLE) needs no schema change: it is a system alarm (revision 0008).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "OPERATOR:"


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("relay_commands", sa.Column("ordered_by", sa.String(length=100), nullable=True))
    op.add_column("relay_commands", sa.Column("note", sa.Text(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE relay_commands SET ordered_by = substr(reason, :start), reason = 'OPERATOR' "
            "WHERE reason LIKE 'OPERATOR:%'"
        ).bindparams(start=len(PREFIX) + 1)
    )


def downgrade() -> None:
    """Revert this revision."""
    op.execute(
        sa.text(
            "UPDATE relay_commands SET reason = substr(:prefix || ordered_by, 1, 24) "
            "WHERE reason = 'OPERATOR' AND ordered_by IS NOT NULL"
        ).bindparams(prefix=PREFIX)
    )
    op.drop_column("relay_commands", "note")
    op.drop_column("relay_commands", "ordered_by")
