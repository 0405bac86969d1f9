"""Payments: counter, kiosk sessions and notes, bank agreements and callbacks, receipts (issue 5).

Reserved in the revision chain so that parallel work can land in any order; it is filled in by
that work. Until then it changes nothing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply nothing yet."""


def downgrade() -> None:
    """Undo nothing yet."""
