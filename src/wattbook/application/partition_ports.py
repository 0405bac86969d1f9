"""Monthly partitions of the tables that grow with every reading (ADR 21).

On PostgreSQL readings and ledger entries are partitioned by local billing month; a month
without its partition still keeps its rows (a default partition takes them) but reads them
slowly, so the partitions are made ahead and staff see an alarm when next month's is missing.
On SQLite nothing is partitioned: the keeper makes nothing and finds nothing missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wattbook.domain.values import BillingMonth


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusedPartition:
    """A partition the database would not make, and its reason."""

    table: str
    month: BillingMonth
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionUpkeep:
    """What one upkeep did: the partitions made (by name), and those the database refused."""

    created: tuple[str, ...] = ()
    refused: tuple[RefusedPartition, ...] = ()


class PartitionKeeper(Protocol):
    """Make and check the monthly partitions."""

    async def ensure(self, *, months: tuple[BillingMonth, ...]) -> PartitionUpkeep:
        """Create each partitioned table's partitions for ``months`` that are missing.

        Each partition is made in its own transaction: one refused (say, a hand-made partition
        overlaps the month) does not stop the others, and is reported in ``refused``.
        """
        ...

    async def missing(self, *, month: BillingMonth) -> tuple[str, ...]:
        """Return the partitioned tables with no partition for ``month``."""
        ...
