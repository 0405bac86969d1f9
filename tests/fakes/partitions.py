"""A partition keeper that keeps its partitions in a set (``partition_ports.PartitionKeeper``)."""

from __future__ import annotations

from collections.abc import Iterable

from wattbook.application.partition_ports import PartitionUpkeep, RefusedPartition
from wattbook.domain.values import BillingMonth

# The tables PostgreSQL partitions by month (ADR 21).
PARTITIONED = ("readings", "ledger_entries")


class FakePartitionKeeper:
    """Make monthly partitions of ``tables`` in memory; a test can have the database refuse
    one, with its reason, until it lets it be made (``allow``)."""

    def __init__(self, tables: Iterable[str] = PARTITIONED) -> None:
        self.tables = tuple(tables)
        self.partitions: set[tuple[str, BillingMonth]] = set()
        self.refusals: dict[tuple[str, BillingMonth], str] = {}

    def refuse(self, table: str, month: BillingMonth, reason: str) -> None:
        """Have the database refuse ``table``'s partition for ``month`` with ``reason``."""
        self.refusals[(table, month)] = reason

    def allow(self, table: str, month: BillingMonth) -> None:
        """Let ``table``'s partition for ``month`` be made from now on."""
        del self.refusals[(table, month)]

    async def ensure(self, *, months: tuple[BillingMonth, ...]) -> PartitionUpkeep:
        created: list[str] = []
        refused: list[RefusedPartition] = []
        for table in self.tables:
            for month in sorted(set(months)):
                if (table, month) in self.partitions:
                    continue
                reason = self.refusals.get((table, month))
                if reason is not None:
                    refused.append(RefusedPartition(table=table, month=month, reason=reason))
                    continue
                self.partitions.add((table, month))
                created.append(f"{table}_{month.year:04d}_{month.month:02d}")
        return PartitionUpkeep(created=tuple(created), refused=tuple(refused))

    async def missing(self, *, month: BillingMonth) -> tuple[str, ...]:
        return tuple(table for table in self.tables if (table, month) not in self.partitions)
