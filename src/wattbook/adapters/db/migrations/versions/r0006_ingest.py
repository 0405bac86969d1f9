"""Ingest: no schema change; the faster ingest needs none (ADR 9).

The set-based ingest stages each batch in per-connection temporary tables, created by the
repository (``adapters/db/metering/_ingest.py``), and finds every row it joins through keys
the schema already has (current installation by meter, baselines, balances, charge totals and
energy, prepaid states by their primary keys; readings by their unique key). The revision stays
in the chain, empty, so that a later ingest change has its place.

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
    """Apply nothing: the ingest needs no new table, column or index."""


def downgrade() -> None:
    """Undo nothing."""
