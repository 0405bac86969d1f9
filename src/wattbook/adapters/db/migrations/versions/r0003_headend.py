"""Head-end: buses, poll plans, alarms, events, communication health (issue 4).

Reserved in the revision chain so that parallel work can land in any order; it is filled in by
that work. Until then it changes nothing.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply nothing yet."""


def downgrade() -> None:
    """Undo nothing yet."""
