"""The metering area's usage aggregates by local day, month and year (Q5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from wattbook.adapters.db._metadata import REGISTERS
from wattbook.adapters.db._sql import Worker, upsert
from wattbook.adapters.db.metering import _tables as metering_t
from wattbook.domain import metering
from wattbook.domain.values import (
    AccountNumber,
)


class SqlUsageRepository:
    """Usage aggregates by local day, month and year in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _add(self, usage: Mapping[AccountNumber, Sequence[metering.Consumption]]) -> None:
        connection = self._worker.conn()
        ids = self._worker.account_ids(usage.keys())
        daily: dict[tuple[int, date], list[int]] = {}
        for number, consumptions in usage.items():
            account_id = ids[str(number)]
            for consumption in consumptions:
                # Split by local month as the charges are (metering.by_month), each part
                # counted on the local day of its last instant: readings come every few
                # minutes, and a gap's energy is only known when it closes.
                for part in metering.by_month(consumption):
                    sums = daily.setdefault((account_id, part.day), [0, 0, 0, 0, 0])
                    for index, value in enumerate(part.delta.as_tuple()):
                        sums[index] += value
        monthly: dict[tuple[int, str], list[int]] = {}
        yearly: dict[tuple[int, int], list[int]] = {}
        for (account_id, day), sums in daily.items():
            month_sums = monthly.setdefault(
                (account_id, f"{day.year:04d}-{day.month:02d}"), [0] * 5
            )
            year_sums = yearly.setdefault((account_id, day.year), [0] * 5)
            for index, value in enumerate(sums):
                month_sums[index] += value
                year_sums[index] += value

        def rows(bucket: Mapping[tuple[int, Any], list[int]], column: str) -> list[dict[str, Any]]:
            return [
                {"account_id": account_id, column: key, **dict(zip(REGISTERS, sums, strict=True))}
                for (account_id, key), sums in bucket.items()
            ]

        upsert(
            connection,
            metering_t.usage_daily,
            rows(daily, "day"),
            keys=("account_id", "day"),
            add=REGISTERS,
        )
        upsert(
            connection,
            metering_t.usage_monthly,
            rows(monthly, "month"),
            keys=("account_id", "month"),
            add=REGISTERS,
        )
        upsert(
            connection,
            metering_t.usage_yearly,
            rows(yearly, "year"),
            keys=("account_id", "year"),
            add=REGISTERS,
        )

    async def add(self, usage: Mapping[AccountNumber, Sequence[metering.Consumption]]) -> None:
        """Add consumption to the aggregates, split by month as charges are (metering.by_month)."""
        await self._worker.run(self._add, usage)
