"""The staff console: operators, sessions, audit log (placeholder).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet: this revision is reserved."""


def downgrade() -> None:
    """Nothing yet: this revision is reserved."""
