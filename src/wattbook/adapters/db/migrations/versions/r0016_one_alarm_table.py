"""One alarm table for every kind (placeholder, filled by the alarm merge).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet: this revision is reserved."""


def downgrade() -> None:
    """Nothing yet: this revision is reserved."""
