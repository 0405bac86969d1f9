"""Make next months' partitions ahead, and tell staff when next month's is missing (run hourly).

The months come from the domain's billing month (local time), as the partitions' bounds do.
If a partition cannot be made, nothing is lost (the default partition keeps the rows), but
staff see a PARTITION_MISSING alarm per table until the next run makes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattbook.application import ports
from wattbook.application.partition_ports import PartitionKeeper, PartitionUpkeep
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import BillingMonth

_KIND = AlarmKind.PARTITION_MISSING
# Partitions are made for this month and this many after it.
MONTHS_AHEAD = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionCheck:
    """One upkeep's outcome: what was made or refused, and the tables next month still lacks."""

    upkeep: PartitionUpkeep
    next_month: BillingMonth
    missing: tuple[str, ...]


def alarm_subject(table: str, month: BillingMonth) -> str:
    """Return the alarm's subject: the table and the month."""
    return f"{table} {month}"


def alarm_detail(table: str, month: BillingMonth, reason: str) -> str:
    """Return the alarm's text, zh-CN first."""
    return (
        f"{table} 缺少 {month} 的分区，请运行 wattbook partitions ensure / "
        f"{table} has no partition for {month}; run wattbook partitions ensure"
        + (f" ({reason})" if reason else "")
    )


async def keep_partitions(
    *,
    keeper: PartitionKeeper,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    months_ahead: int = MONTHS_AHEAD,
) -> PartitionCheck:
    """Make the partitions of this month and ``months_ahead`` more; alarm for next month's.

    Return what was done and the tables still without next month's partition. Idempotent:
    an open alarm stays one alarm, and ends once the partition exists.

    :raises ValueError: if ``months_ahead`` is below 1 (next month must be made).
    """
    if months_ahead < 1:
        raise ValueError("months_ahead must be at least 1: next month's partition is checked")
    now = clock.now()
    months = [BillingMonth.of(now)]
    for _ in range(months_ahead):
        months.append(months[-1].next())
    upkeep = await keeper.ensure(months=tuple(months))
    reasons = {(refused.table, refused.month): refused.reason for refused in upkeep.refused}
    following = months[1]
    missing = await keeper.missing(month=following)
    async with uow:
        for table in missing:
            reason = reasons.get((table, following), "")
            await uow.alarms.raise_alarm(
                kind=_KIND,
                subject=alarm_subject(table, following),
                detail=alarm_detail(table, following, reason),
                at=now,
            )
        still_missing = {alarm_subject(table, following) for table in missing}
        for alarm in await uow.alarms.alarms(open_only=True, kinds=(_KIND,)):
            if alarm.subject not in still_missing:
                await uow.alarms.end_alarm(kind=_KIND, subject=alarm.subject, at=now)
        await uow.commit()
    return PartitionCheck(upkeep=upkeep, next_month=following, missing=missing)
