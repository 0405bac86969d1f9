"""Ingest: indexes and columns for batch reading ingest (issue 3 performance).

Reserved in the revision chain so that parallel work can land in any order; it is filled in by
that work. Until then it changes nothing.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply nothing yet."""


def downgrade() -> None:
    """Undo nothing yet."""
