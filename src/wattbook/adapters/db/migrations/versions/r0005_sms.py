"""SMS: outbox delivery state, attempts, daily caps, delivery records (issue 6).

Reserved in the revision chain so that parallel work can land in any order; it is filled in by
that work. Until then it changes nothing.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply nothing yet."""


def downgrade() -> None:
    """Undo nothing yet."""
