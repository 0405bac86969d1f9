"""Seed the manual's default tariff and prepaid policy.

B2: one price for all hours, 0.5283 yuan/kWh, item 居民照明. B4-B7: low-balance SMS below
20 kWh worth, a warning cut below 5 kWh worth closed again after 2 minutes, no cut on
non-working days; a deferred trip happens at 08:00 on the next working day.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Before any account: the price is in force from the first day wattbook can know about.
SEED_FROM = dt.date(2000, 1, 1)
TARIFF_KEY = "RESIDENTIAL_LIGHTING@2000-01-01"


def upgrade() -> None:
    """Insert the seed rows."""
    tariffs = sa.table(
        "tariffs",
        sa.column("id", sa.Integer),
        sa.column("key", sa.String),
        sa.column("item", sa.String),
        sa.column("effective_from", sa.Date),
        sa.column("effective_to", sa.Date),
    )
    components = sa.table(
        "tariff_components",
        sa.column("tariff_id", sa.Integer),
        sa.column("code", sa.String),
        sa.column("period", sa.String),
        sa.column("from_year_wh", sa.BigInteger),
        sa.column("price", sa.BigInteger),
    )
    policies = sa.table(
        "prepaid_policies",
        sa.column("effective_from", sa.Date),
        sa.column("low_balance_wh", sa.BigInteger),
        sa.column("warning_cut_wh", sa.BigInteger),
        sa.column("reclose_delay_seconds", sa.Integer),
        sa.column("holiday_rule", sa.String),
        sa.column("deferred_trip_time", sa.Time),
    )
    op.bulk_insert(
        tariffs,
        [
            {
                "id": 1,
                "key": TARIFF_KEY,
                "item": "RESIDENTIAL_LIGHTING",
                "effective_from": SEED_FROM,
                "effective_to": None,
            }
        ],
    )
    op.bulk_insert(
        components,
        [{"tariff_id": 1, "code": "ALL", "period": None, "from_year_wh": 0, "price": 5283}],
    )
    op.bulk_insert(
        policies,
        [
            {
                "effective_from": SEED_FROM,
                "low_balance_wh": 20_000,
                "warning_cut_wh": 5_000,
                "reclose_delay_seconds": 120,
                "holiday_rule": "NON_WORKING_DAYS",
                "deferred_trip_time": dt.time(8, 0),
            }
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        # The explicit id above does not advance the serial's sequence.
        op.execute("SELECT setval(pg_get_serial_sequence('tariffs', 'id'), 1)")


def downgrade() -> None:
    """Delete the seed rows."""
    op.execute("DELETE FROM tariff_components WHERE tariff_id = 1")
    op.execute("DELETE FROM tariffs WHERE id = 1")
    op.execute(f"DELETE FROM prepaid_policies WHERE effective_from = '{SEED_FROM.isoformat()}'")  # noqa: S608
