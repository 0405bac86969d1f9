"""The JSON API's tokens and the import (placeholder).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet: this revision is reserved."""


def downgrade() -> None:
    """Nothing yet: this revision is reserved."""
